"""The small test runner the Python suites share: runs the registered tests
(those whose name contains the filter, when one is given), prints PASS or
FAIL for each and the closing line "<suite>: N passed, N failed"."""
import sys
import time


def run(suite, tests, only=""):
    passed = failed = 0
    for fn in tests:
        if only and only not in fn.__name__:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("PASS %s (%.2fs)" % (fn.__name__, time.time() - t0))
        except Exception as e:  # noqa: BLE001 - reported, then the next test
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e))
        sys.stdout.flush()
    print("%s: %d passed, %d failed" % (suite, passed, failed))
    return 1 if failed else 0
