"""dflow's shell hello world, written with flowpack.

Run it:    flowpack run examples/hello_shell.py:hello_world -p msg="Hello, world" -p number=42
Render it: flowpack render examples/hello_shell.py:hello_world -o hello.yaml
"""

import flowpack as fp

# Inputs reach the script as environment variables ($msg, $number): values are data, never spliced into the text.
hello = fp.shell(
    'echo "$msg" > /tmp/msg.txt && echo "$number" > /tmp/results.txt',
    name="hello",
    inputs={"msg": str, "number": int},
    outputs={
        "out_param": fp.Parameter("/tmp/results.txt", type=int),
        "out_art": fp.Artifact("/tmp/msg.txt"),
    },
)


@fp.workflow
def hello_world(msg: str = "Hello", number: int = 1):
    step = hello(msg=msg, number=number)
    return {"out_param": step.out_param, "out_art": step.out_art}


@fp.workflow
def two_at_once(first: str = "one", second: str = "two"):
    """Both steps write /tmp/msg.txt at the same time; each gets its own."""
    a = hello(msg=first, number=1)
    b = hello(msg=second, number=2)
    return {"a": a.out_art, "b": b.out_art, "a_num": a.out_param, "b_num": b.out_param}


if __name__ == "__main__":
    run = hello_world.run(msg="Hello, world", number=42)
    out = run.result()
    print("out_param:", out["out_param"])
    print("out_art:", out["out_art"].read_text().strip())
