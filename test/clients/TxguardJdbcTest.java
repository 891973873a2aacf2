// pgjdbc (Debian libpostgresql-jdbc-java): what PSQLException shows on the 25P02.
// Compiled and run by run.sh:  javac -cp /usr/share/java/postgresql.jar ...
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public class TxguardJdbcTest extends TxguardJdbcChecks {
    static final String CORE_MSG =
        "current transaction is aborted, commands ignored until end of transaction block";
    /* txguard adds a HINT only when the error aborted a savepoint */
    static final String HINT = null;
    static final String DUP = "duplicate key value violates unique constraint";
    static final String TABLE = "txg_jdbc";
    static final String INSERT = "INSERT INTO " + TABLE + " VALUES (1, 'dup')";
    static final String PS_INSERT = "INSERT INTO " + TABLE + " VALUES (?, ?)";
    static final String PS_INSERT_SERVER = "INSERT INTO " + TABLE + " VALUES ($1, $2)";

    static boolean contains(String label, String text, String... needles) {
        StringBuilder missing = new StringBuilder();
        for (String n : needles) {
            if (text == null || !text.contains(n)) missing.append(" [").append(n).append("]");
        }
        return report(missing.length() == 0,
            missing.length() == 0 ? label : label + " (missing" + missing + ")", text);
    }

    static boolean lacks(String label, String text, String... needles) {
        StringBuilder present = new StringBuilder();
        for (String n : needles) {
            if (text != null && text.contains(n)) present.append(" [").append(n).append("]");
        }
        return report(present.length() == 0,
            present.length() == 0 ? label : label + " (unexpectedly present" + present + ")", text);
    }

    static String detailFor(String stmt) {
        return "The transaction was aborted by an earlier error in statement 2: ERROR 23505: " + DUP
            + " \"" + TABLE + "_pkey\" (Key (id)=(1) already exists.) Statement: " + stmt;
    }

    /** statement 1: SELECT, statement 2: duplicate INSERT (caught), then a query -> 25P02. */
    static PSQLException provoke(Connection conn, String label, boolean prepared) throws SQLException {
        PSQLException dup = null, err = null;
        try (Statement st = conn.createStatement()) {
            st.executeQuery("SELECT count(*) FROM " + TABLE).close();
            try {
                if (prepared) {
                    try (PreparedStatement ps = conn.prepareStatement(PS_INSERT)) {
                        ps.setInt(1, 1);
                        ps.setString(2, "dup");
                        ps.executeUpdate();
                    }
                } else {
                    st.executeUpdate(INSERT);
                }
            } catch (PSQLException e) {
                dup = e;
            }
            try {
                st.executeQuery("SELECT note FROM " + TABLE).close();
            } catch (PSQLException e) {
                err = e;
            }
        }
        conn.rollback();
        System.out.println("[" + label + "] getMessage():\n" + (err == null ? null : err.getMessage()));
        report(dup != null && "23505".equals(dup.getSQLState()),
            "[" + label + "] the duplicate INSERT failed with 23505", dup);
        report(err != null, "[" + label + "] the next query threw PSQLException", null);
        if (dup != null) {   // this pgjdbc puts the server's DETAIL into getMessage()
            contains("[" + label + "] the 23505 getMessage() keeps core's detail", dup.getMessage(),
                "\n  Detail: Key (id)=(1) already exists.");
        }
        if (err != null) eq("[" + label + "] getSQLState() stays 25P02", err.getSQLState(), "25P02");
        return err;
    }

    static void run() throws Exception {
        String host = System.getenv().getOrDefault("PGHOST", "127.0.0.1");
        String port = System.getenv().getOrDefault("PGPORT", "55441");
        String db = System.getenv().getOrDefault("PGDATABASE", "postgres");
        String user = System.getenv().getOrDefault("PGUSER", "postgres");
        String url = "jdbc:postgresql://" + host + ":" + port + "/" + db
            + "?ApplicationName=txguard-client-test-jdbc";
        try (Connection conn = DriverManager.getConnection(url, user, "")) {
            System.out.println("pgjdbc " + conn.getMetaData().getDriverVersion()
                + ", Java " + System.getProperty("java.version"));
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE IF EXISTS " + TABLE);
                st.execute("CREATE TABLE " + TABLE + " (id int PRIMARY KEY, note text)");
                st.execute("INSERT INTO " + TABLE + " VALUES (1, 'first')");
            }
            conn.setAutoCommit(false);

            for (boolean prepared : new boolean[] {false, true}) {
                String label = prepared ? "detail/PreparedStatement" : "detail/Statement";
                String stmt = prepared ? PS_INSERT_SERVER : INSERT;
                PSQLException err = provoke(conn, label, prepared);
                if (err == null) continue;
                contains("[" + label + "] getMessage() names 23505, the duplicate key error and the INSERT",
                    err.getMessage(), "23505", DUP, stmt);
                contains("[" + label + "] getMessage() is core's message plus Detail",
                    err.getMessage(), "ERROR: " + CORE_MSG + "\n  Detail: " + detailFor(stmt));
                ServerErrorMessage sem = err.getServerErrorMessage();
                eq("[" + label + "] getServerErrorMessage().getMessage() is core's",
                    sem == null ? null : sem.getMessage(), CORE_MSG);
                if (prepared) {
                    contains("[" + label + "] getServerErrorMessage().getDetail()",
                        sem == null ? null : sem.getDetail(), detailFor(stmt));
                } else {
                    eq("[" + label + "] getServerErrorMessage().getDetail()",
                        sem == null ? null : sem.getDetail(), detailFor(stmt));
                }
                eq("[" + label + "] getServerErrorMessage().getHint()",
                    sem == null ? null : sem.getHint(), HINT);
            }

            try (Statement st = conn.createStatement()) {
                st.execute("SET txguard.annotate = message");
            }
            conn.commit();
            PSQLException err = provoke(conn, "message", false);
            if (err != null) {
                String shortCause = CORE_MSG + " (aborted by earlier error 23505: " + DUP + " \""
                    + TABLE + "_pkey\")";
                eq("[message] server message carries the short cause",
                    err.getServerErrorMessage() == null ? null : err.getServerErrorMessage().getMessage(),
                    shortCause);
                contains("[message] getMessage() carries the short cause", err.getMessage(),
                    "ERROR: " + shortCause);
            }

            try (Statement st = conn.createStatement()) {
                st.execute("SET txguard.annotate = off");
            }
            conn.commit();
            err = provoke(conn, "off", false);
            if (err != null) {
                eq("[off] getMessage() is core's bare message", err.getMessage(), "ERROR: " + CORE_MSG);
                eq("[off] no detail", err.getServerErrorMessage() == null ? "no ServerErrorMessage"
                    : err.getServerErrorMessage().getDetail(), null);
                lacks("[off] nothing names the cause", err.getMessage(), "23505", DUP, INSERT);
            }
        }
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            report(false, "unexpected exception", t);
        }
        System.out.println("jdbc: " + passed + " checks passed, " + failed + " failed");
        finish();
    }
}
