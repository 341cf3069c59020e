// podLog is where a pod's main container writes: the container runtime's part. The container's
// stdout and stderr come through one pipe; what arrives goes unchanged into main.log, and the time
// each line arrived goes into main.log.times beside it, as the runtime keeps a time for every line
// of a container's log (CRI logs) that the kubelet gives back with `timestamps=true` (Argo's log
// endpoint asks for it). A row of main.log.times: the byte offset in main.log just past the line's
// newline (for a last line that never ended, the log's size), a tab, the time in Kubernetes' form
// (RFC 3339, nine digits of fractions, UTC), a newline. As the kubelet does, a line carries the time
// its first piece arrived. A row is written before its line, so whoever reads main.log and then
// main.log.times finds the time of every line it read.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// kubeTimeFormat is the kubelet's format for the time before each log line (RFC3339NanoFixed).
const kubeTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// podLogDrain bounds how long the harness waits, once the pod's process has ended, for the rest of
// its output. Its processes end with it (it is the first of its PID namespace), so the pipe closes at
// once; the bound only keeps a harness bug from hanging a run.
const podLogDrain = 5 * time.Second

type podLog struct {
	mu       sync.Mutex
	log      *os.File
	times    *os.File
	offset   int64     // bytes written to main.log
	inLine   bool      // the last write ended inside a line
	lineTime time.Time // when the first piece of the current line arrived
}

func newPodLog(dir string) (*podLog, error) {
	log, err := os.Create(filepath.Join(dir, "main.log"))
	if err != nil {
		return nil, err
	}
	times, err := os.Create(filepath.Join(dir, "main.log.times"))
	if err != nil {
		log.Close()
		return nil, err
	}
	return &podLog{log: log, times: times}, nil
}

// Write is called by os/exec's copying goroutine as the container's output arrives.
func (l *podLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UTC()
	var rows []byte
	for start := 0; start < len(p); {
		if !l.inLine {
			l.lineTime, l.inLine = now, true
		}
		i := bytes.IndexByte(p[start:], '\n')
		if i < 0 {
			break
		}
		start += i + 1
		rows = fmt.Appendf(rows, "%d\t%s\n", l.offset+int64(start), l.lineTime.Format(kubeTimeFormat))
		l.inLine = false
	}
	if len(rows) > 0 {
		if _, err := l.times.Write(rows); err != nil {
			return 0, err
		}
	}
	n, err := l.log.Write(p)
	l.offset += int64(n)
	return n, err
}

// Close gives a last line that never ended its time and closes both files.
func (l *podLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.inLine {
		_, err = fmt.Fprintf(l.times, "%d\t%s\n", l.offset, l.lineTime.Format(kubeTimeFormat))
	}
	if e := l.times.Close(); err == nil {
		err = e
	}
	if e := l.log.Close(); err == nil {
		err = e
	}
	return err
}
