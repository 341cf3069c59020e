// logRing keeps the controller's and executor's recent JSON log lines (and optionally writes
// all of them to a file), so a Stuck run can say what Argo last complained about.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
)

const logRingSize = 400

type logRing struct {
	mu    sync.Mutex
	lines []string
	part  []byte
	file  *os.File
}

func newLogRing(path string) (*logRing, error) {
	r := &logRing{}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		r.file = f
	}
	return r, nil
}

func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		_, _ = r.file.Write(p)
	}
	r.part = append(r.part, p...)
	for {
		i := bytes.IndexByte(r.part, '\n')
		if i < 0 {
			break
		}
		r.lines = append(r.lines, string(r.part[:i]))
		r.part = r.part[i+1:]
	}
	if len(r.lines) > logRingSize {
		r.lines = r.lines[len(r.lines)-logRingSize:]
	}
	return len(p), nil
}

// lastProblem is the last warning or error logged with an error attached (the controller's
// reason), or else the last warning or error.
func (r *logRing) lastProblem() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	fallback := ""
	for i := len(r.lines) - 1; i >= 0; i-- {
		var entry map[string]interface{}
		if json.Unmarshal([]byte(r.lines[i]), &entry) != nil {
			continue
		}
		level, _ := entry["level"].(string) // slog (v4): WARN, ERROR; logrus (v3): warning, error
		if level = strings.ToUpper(level); level != "WARN" && level != "WARNING" && level != "ERROR" {
			continue
		}
		msg, _ := entry["msg"].(string)
		if e, ok := entry["error"].(string); ok && e != "" {
			return msg + ": " + e
		}
		if fallback == "" {
			fallback = msg
		}
	}
	return fallback
}

func (r *logRing) close() {
	if r.file != nil {
		_ = r.file.Close()
	}
}
