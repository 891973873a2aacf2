// The checks the pgjdbc tests share (TxguardJdbcTest, TxguardJdbcOrdinalsTest,
// TxguardJdbcAutosaveTest extend it): each check prints "ok:" or "FAIL:" and is
// counted; finish() exits 1 if any failed or none ran.  Compiled with them by
// run.sh (javac -sourcepath test/clients).
import java.util.Objects;

public class TxguardJdbcChecks {
    static int passed = 0, failed = 0;

    static boolean report(boolean ok, String label, Object shown) {
        if (ok) {
            passed++;
            System.out.println("  ok: " + label);
        } else {
            failed++;
            System.out.println("  FAIL: " + label + "\n        client shows: " + shown);
        }
        return ok;
    }

    static boolean eq(String label, Object actual, Object expected) {
        boolean ok = Objects.equals(actual, expected);
        return report(ok, ok ? label : label + "\n        expected:     " + expected, actual);
    }

    static void finish() {
        System.exit(failed > 0 || passed == 0 ? 1 : 0);
    }
}
