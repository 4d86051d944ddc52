"""Another replica of the app in its own process, for ``bench_surge.py --replicas N``.

Production runs two replicas (deploy/k8s), each a process of its own with a core of its own,
on the same Redis. Replicas started inside the benchmark's process (``Sandbox.add_replica``)
would share its one interpreter, so this starts ``assistant.app.Assistant`` in a child process
with the settings of the benchmark's app (secrets included: everything is local and
throw-away), on the app's Redis and the benchmark's Slack emulator. Like ``assistant run``
it calls ``runtime.steady_gc()`` once started. The child prints its port and its pid, then
serves until its standard input closes, and stops (drains) like on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLAG = "--replica"


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    port: int
    pid: int

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


def settings_values(settings: Any, **overrides: Any) -> dict[str, Any]:
    """The settings' values as JSON-compatible data (secrets revealed), plus ``overrides``."""
    from pydantic import SecretStr
    from pydantic_core import to_jsonable_python

    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
    }
    values.update(overrides)
    return to_jsonable_python(values)  # type: ignore[no-any-return]


async def start_replica(values: dict[str, Any]) -> Replica:
    from bench_votes import start_child

    process = await start_child(__file__, FLAG)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(values).encode() + b"\n")
    await process.stdin.drain()
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line:
        raise RuntimeError(f"replica exited ({await process.wait()}) before it was ready")
    ready = json.loads(line)
    return Replica(process, int(ready["port"]), int(ready["pid"]))


async def _serve(values: dict[str, Any]) -> None:
    import os

    from assistant import runtime
    from assistant.app import Assistant
    from assistant.settings import Settings

    app = Assistant(Settings(**values))
    await app.start()
    try:
        runtime.steady_gc()  # as `assistant run` does once started
        print(json.dumps({"port": app.port, "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    finally:
        await app.stop()


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from assistant import runtime

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    values = json.loads(sys.stdin.readline())
    runtime.run(_serve(values))
    return 0


if __name__ == "__main__" and FLAG in sys.argv:
    raise SystemExit(main())
