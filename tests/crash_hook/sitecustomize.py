"""Loaded by every process of a LiveServer started with this directory on PYTHONPATH (the
crash tests): once the file $CRASH_ARMED exists, the first worker to COMMIT a batch holding a
redemption claims $CRASH_FIRED (O_EXCL: one worker, once), writes its pid there and SIGKILLs
itself before any write of that batch is answered — a batch committed but never acknowledged."""

import os
import signal

ARMED, FIRED = os.environ.get("CRASH_ARMED"), os.environ.get("CRASH_FIRED")

if ARMED and FIRED:
    from service import uow

    _execute = uow.execute

    def execute(engine, writes):
        outcomes = _execute(engine, writes)
        if os.path.exists(ARMED) and any(w.group is not None for w in writes):
            try:
                fd = os.open(FIRED, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return outcomes
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

    uow.execute = execute
