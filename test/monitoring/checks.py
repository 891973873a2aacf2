"""checks.py: the check reporting the monitoring suite's Python checkers share.

ok(msg) and fail(msg, shows=None) print "  ok: ..." / "  FAIL: ..." lines (fail
also the first 60 lines of what it shows); finish() prints the counts and exits
1 if a check failed or none passed.
"""
import sys

passed = 0
failed = 0


def ok(msg):
    global passed
    passed += 1
    print("  ok: " + msg)


def fail(msg, shows=None):
    global failed
    failed += 1
    print("  FAIL: " + msg)
    if shows is not None:
        for line in str(shows).splitlines()[:60]:
            print("        " + line)


def finish():
    print("%d checks passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)
