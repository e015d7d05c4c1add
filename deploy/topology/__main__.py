"""``python -m deploy.topology up|down|test|drills|backup-drill`` (make topology,
topology-down, topology-test, backup-drill; ``drills [letters]`` runs drills against a
topology that is up; ``backup-drill [numbers]`` brings one up for each backup drill;
``recovery-time --scale S`` times a restore of bench/datagen.py's dataset)."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from deploy.topology import backup, backup_drills, drills, recovery_time, topology
from deploy.topology.layout import Layout, layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.topology")
    parser.add_argument("action", choices=("up", "down", "test", "drills", "backup-drill",
                                           "recovery-time"))
    parser.add_argument("only", nargs="?", default="",
                        help="drills: the letters (backup-drill: the numbers) of the drills "
                        "to run (default: all)")
    parser.add_argument("--target-after-drop", action="store_true",
                        help="backup-drill: restore drill 1 to a moment after the DROP "
                        "TABLE, which must make it fail")
    parser.add_argument("--scale", type=float, default=0.01,
                        help="recovery-time: bench/datagen.py's scale (1: 1M patients, "
                        "1M appointments)")
    parser.add_argument("--replay-load", action="store_true",
                        help="recovery-time: back up before loading the data, so the "
                        "restore replays the load's WAL")
    arguments = parser.parse_args(argv)
    action = arguments.action
    # SIGTERM ends the run as Ctrl-C does: through the finally blocks that stop it all.
    # (SIGINT too when started in the background, where the shell would have it ignored.)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    where = layout()
    if action == "down":
        topology.down(where)
        print(f"The topology in {where.state} is down.")
        return 0
    if action == "up":
        print(topology.up(where))  # the last line: nginx's URL
        return 0
    if action == "drills":
        return 0 if drills.run_all(where, arguments.only) else 1
    if action == "recovery-time":
        for phase, value in recovery_time.measure(where, arguments.scale,
                                                  arguments.replay_load).items():
            print(f"{phase}: {value:.1f}", flush=True)
        return 0
    if action == "backup-drill":
        return _backup_drill(where, arguments.only, arguments.target_after_drop)
    return _test(where)


def _test(where: Layout) -> int:
    """Up, every drill, down: 0 when every drill passed and no process is left."""
    started = time.monotonic()
    if topology.is_up(where):
        topology.down(where)
    try:
        url = topology.up(where)
        print(f"topology up at {url} in {time.monotonic() - started:.1f} s", flush=True)
        passed = drills.run_all(where)
    finally:
        topology.down(where)
        left = topology.stray_processes(where)
        print(f"topology down; processes left: {len(left)}; total "
              f"{time.monotonic() - started:.1f} s", flush=True)
    return 0 if passed and not left else 1


def _backup_drill(where: Layout, only: str, target_after_drop: bool) -> int:
    """Each backup drill on a topology of its own (two destroy the primary): never on one
    that is up already, which may be someone's."""
    if backup.binary() is None:
        print("pgbackrest is not installed (apt-get install pgbackrest): no backup drill",
              file=sys.stderr)
        return 1
    if topology.is_up(where):
        print(f"A topology is up in {where.state}: make topology-down first, or set "
              "TOPOLOGY_STATE and TOPOLOGY_PORT_BASE to another folder and ports.",
              file=sys.stderr)
        return 1
    started = time.monotonic()
    passed = backup_drills.run_all(where, only, target_after_drop)
    print(f"backup drills {'passed' if passed else 'FAILED'} in "
          f"{time.monotonic() - started:.1f} s", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
