// pgjdbc (Debian libpostgresql-jdbc-java) with autosave=always: its savepoints are not statements.
// Compiled and run by run.sh:  javac -cp /usr/share/java/postgresql.jar ...
//
// With autosave=always pgjdbc sets a savepoint (SAVEPOINT PGJDBC_AUTOSAVE) before every statement
// of a transaction and, when a statement fails, rolls back to it (ROLLBACK TO SAVEPOINT
// PGJDBC_AUTOSAVE), so the transaction goes on; with cleanupSavepoints=true it also releases the
// savepoint after each statement that succeeded.  SAVEPOINT, RELEASE and ROLLBACK TO are not
// statements unless they fail: txguard_last_abort() names the application's own statement N (1.1
// counted pgjdbc's savepoints too), and with txguard.log_aborts = problems (the default, left so
// by run.sh) no end-of-block line is logged for the errors pgjdbc recovered from.
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class TxguardJdbcAutosaveTest extends TxguardJdbcChecks {
    static final String TABLE = "txg_jdbc_autosave";
    static final String END_LINE = "txguard: aborted transaction ended by";
    static final String LAST_ABORT =
        "SELECT sqlstate, statement, statement_ordinal, in_savepoint FROM txguard_last_abort()";

    static List<Object> lastAbort(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(LAST_ABORT)) {
            if (!rs.next()) return null;
            return Arrays.asList(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getBoolean(4));
        }
    }

    static String sqlState(Exception e) {
        return e instanceof SQLException ? ((SQLException) e).getSQLState() : String.valueOf(e);
    }

    static long logSize(String path) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(path, "r")) {
            return f.length();
        }
    }

    /** The server log lines of backend pid written since offset, once marker is among them. */
    static List<String> logLines(String path, long offset, int pid, String marker) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            String text;
            try (RandomAccessFile f = new RandomAccessFile(path, "r")) {
                byte[] b = new byte[(int) (f.length() - offset)];
                f.seek(offset);
                f.readFully(b);
                text = new String(b, StandardCharsets.UTF_8);
            }
            if (text.contains(marker) || System.nanoTime() > deadline) {
                List<String> out = new ArrayList<>();
                for (String ln : text.split("\n")) {
                    if (ln.contains("[" + pid + "]")) out.add(ln);
                }
                return out;
            }
            Thread.sleep(20);   // polling the log for the marker
        }
    }

    static void scenario(String base, String user, boolean cleanup) throws Exception {
        String label = cleanup ? "autosave=always, cleanupSavepoints=true" : "autosave=always";
        String url = base + "&autosave=always" + (cleanup ? "&cleanupSavepoints=true" : "");
        String logPath = System.getenv("TXG_SERVER_LOG");
        long offset = logPath != null ? logSize(logPath) : 0;
        String insert = "INSERT INTO " + TABLE + " VALUES (?)";
        try (Connection conn = DriverManager.getConnection(url, user, "")) {
            int pid;
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
                rs.next();
                pid = rs.getInt(1);
            }
            conn.setAutoCommit(false);
            Exception dup = null, div = null;
            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT count(*) FROM " + TABLE).close();           // statement 1
                try (PreparedStatement ps = conn.prepareStatement(insert)) {        // statement 2
                    ps.setInt(1, 1);
                    ps.executeUpdate();
                } catch (SQLException e) {
                    dup = e;
                }
                eq("[" + label + "] statement 2 (duplicate INSERT) fails with 23505",
                    sqlState(dup), "23505");
                eq("[" + label + "] txguard_last_abort() (statement 3): statement 2, in a savepoint",
                    lastAbort(conn), Arrays.asList("23505", "INSERT INTO " + TABLE + " VALUES ($1)", 2, true));
                try {
                    st.executeQuery("SELECT 1/0").close();                           // statement 4
                } catch (SQLException e) {
                    div = e;
                }
                eq("[" + label + "] statement 4 (SELECT 1/0) fails with 22012", sqlState(div), "22012");
                eq("[" + label + "] txguard_last_abort() (statement 5): statement 4",
                    lastAbort(conn), Arrays.asList("22012", "SELECT 1/0", 4, true));
                try (PreparedStatement ps = conn.prepareStatement(insert)) {        // statement 6
                    ps.setInt(1, 2);
                    eq("[" + label + "] statement 6 (INSERT) works: pgjdbc recovered the transaction",
                        ps.executeUpdate(), 1);
                }
            }
            conn.rollback();
            if (logPath == null) {
                report(false, "[" + label + "] TXG_SERVER_LOG is not set (run.sh sets it)", null);
                return;
            }
            conn.setAutoCommit(true);
            String marker = "txguard-test-jdbc-autosave-done-" + (cleanup ? 2 : 1);
            try (Statement st = conn.createStatement()) {
                st.execute("DO $$BEGIN RAISE LOG '" + marker + "'; END$$");
            }
            List<String> lines = logLines(logPath, offset, pid, marker);
            long errors = lines.stream().filter(l -> l.contains("ERROR:  ")).count();
            eq("[" + label + "] the server log has core's 2 ERROR lines of the session", errors, 2L);
            List<String> end = new ArrayList<>();
            for (String l : lines) if (l.contains(END_LINE)) end.add(l);
            eq("[" + label + "] no txguard end-of-block line for the errors pgjdbc recovered from",
                end, new ArrayList<String>());
        }
    }

    static void run() throws Exception {
        String host = System.getenv().getOrDefault("PGHOST", "127.0.0.1");
        String port = System.getenv().getOrDefault("PGPORT", "55441");
        String db = System.getenv().getOrDefault("PGDATABASE", "postgres");
        String user = System.getenv().getOrDefault("PGUSER", "postgres");
        String base = "jdbc:postgresql://" + host + ":" + port + "/" + db
            + "?ApplicationName=txguard-client-test-jdbc-autosave";
        try (Connection conn = DriverManager.getConnection(base, user, "")) {
            System.out.println("pgjdbc " + conn.getMetaData().getDriverVersion()
                + ", Java " + System.getProperty("java.version"));
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE IF EXISTS " + TABLE);
                st.execute("CREATE TABLE " + TABLE + " (id int PRIMARY KEY)");
                st.execute("INSERT INTO " + TABLE + " VALUES (1)");
            }
        }
        scenario(base, user, false);
        scenario(base, user, true);
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            report(false, "unexpected exception", t);
        }
        System.out.println("jdbc-autosave: " + passed + " checks passed, " + failed + " failed");
        finish();
    }
}
