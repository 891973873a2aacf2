// pgjdbc (Debian libpostgresql-jdbc-java): portals read in chunks (setFetchSize) and statement N.
// Compiled and run by run.sh:  javac -cp /usr/share/java/postgresql.jar ...
//
// test/model/DEFINITION.md: "Reading a portal in chunks (Execute with a row limit, then further
// Executes of the same portal, as pgjdbc's setFetchSize does) is one statement, counted at its
// first Execute."  With setAutoCommit(false) and setFetchSize(2), pgjdbc reads a query through
// a named portal, two rows per Execute, and other statements can run on the connection between
// the chunks.  pgjdbc's own BEGIN is not counted.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public class TxguardJdbcOrdinalsTest extends TxguardJdbcChecks {
    static final String CORE_MSG =
        "current transaction is aborted, commands ignored until end of transaction block";
    /* txguard adds a HINT only when the error aborted a savepoint */
    static final String HINT = null;
    // 10/(5 - g): rows 2, 3 | 5, 10 | division by zero at g = 5, i.e. in the third chunk of 2
    static final String CHUNKED = "SELECT 10/(5 - g) FROM generate_series(1,10) g";
    static final String CHUNKED_PS = "SELECT 10/(? - g) FROM generate_series(1,10) g";
    static final String CHUNKED_PS_SERVER = "SELECT 10/($1 - g) FROM generate_series(1,10) g";
    static final String LAST_ABORT = "SELECT sqlstate, statement, statement_ordinal, in_block,"
        + " ignored_commands, ended_by FROM txguard_last_abort()";

    /** The DETAIL txguard must put on the 25P02 (DEFINITION.md section 4). */
    static String cause(int ordinal, String sqlstate, String message, String stmt) {
        return "The transaction was aborted by an earlier error in statement " + ordinal
            + ": ERROR " + sqlstate + ": " + message + " Statement: " + stmt;
    }

    static String scalar(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    static List<Object> lastAbort(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(LAST_ABORT)) {
            if (!rs.next()) return null;
            return Arrays.asList(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getBoolean(4),
                rs.getLong(5), rs.getString(6));
        }
    }

    /** Read rows from rs until it throws; returns the exception (null if none) and the rows. */
    static PSQLException readUntilError(ResultSet rs, List<Integer> rows, int max) {
        try {
            while (rows.size() < max && rs.next()) rows.add(rs.getInt(1));
        } catch (PSQLException e) {
            return e;
        } catch (SQLException e) {
            return new PSQLException(e.getMessage(), null);
        }
        return null;
    }

    /** The statement after the cause: must get the 25P02 naming `expected`. */
    static void check25P02(Connection conn, String label, String expected) {
        PSQLException err = null;
        try (Statement st = conn.createStatement()) {
            st.executeQuery("SELECT 42").close();
        } catch (PSQLException e) {
            err = e;
        } catch (SQLException e) {
            report(false, "[" + label + "] unexpected SQLException", e);
            return;
        }
        System.out.println("[" + label + "] 25P02 getMessage():\n" + (err == null ? null : err.getMessage()));
        if (!eq("[" + label + "] the next statement gets 25P02",
                err == null ? null : err.getSQLState(), "25P02")) return;
        ServerErrorMessage sem = err.getServerErrorMessage();
        eq("[" + label + "] message is core's", sem == null ? null : sem.getMessage(), CORE_MSG);
        eq("[" + label + "] DETAIL names the statement and its text",
            sem == null ? null : sem.getDetail(), expected);
        eq("[" + label + "] HINT", sem == null ? null : sem.getHint(), HINT);
    }

    /**
     * `before` statements, then the chunked query (statement before + 1), read 2 rows, then
     * `between` statements, then rows until the third chunk's division by zero.
     */
    static void chunkedFailure(Connection conn, String label, int before, int between,
                               boolean prepared) throws SQLException {
        int ordinal = before + 1;
        String serverText = prepared ? CHUNKED_PS_SERVER : CHUNKED;
        for (int i = 0; i < before; i++) scalar(conn, "SELECT " + (100 + i));   // 1 .. before
        Statement st = null;
        PreparedStatement ps = null;
        ResultSet rs;
        if (prepared) {
            ps = conn.prepareStatement(CHUNKED_PS);
            ps.setFetchSize(2);
            ps.setInt(1, 5);
            rs = ps.executeQuery();                       // statement `ordinal`: first Execute
        } else {
            st = conn.createStatement();
            st.setFetchSize(2);
            rs = st.executeQuery(CHUNKED);                // statement `ordinal`: first Execute
        }
        List<Integer> rows = new ArrayList<>();
        PSQLException err = readUntilError(rs, rows, 2);
        eq("[" + label + "] first chunk", rows, Arrays.asList(2, 3));
        for (int i = 0; i < between; i++) {               // ordinal + 1 .. ordinal + between
            eq("[" + label + "] statement " + (ordinal + 1 + i) + " between the chunks",
                scalar(conn, "SELECT " + (200 + i)), String.valueOf(200 + i));
        }
        err = readUntilError(rs, rows, 100);              // Execute of chunk 2, then chunk 3
        System.out.println("[" + label + "] rows read: " + rows + ", then: "
            + (err == null ? null : err.getMessage()));
        eq("[" + label + "] rows of the first two chunks, then the error", rows,
            Arrays.asList(2, 3, 5, 10));
        eq("[" + label + "] the third chunk fails with 22012", err == null ? null : err.getSQLState(),
            "22012");
        check25P02(conn, label, cause(ordinal, "22012", "division by zero", serverText));
        if (st != null) st.close();
        if (ps != null) ps.close();
        conn.rollback();
        eq("[" + label + "] txguard_last_abort() after rollback", lastAbort(conn),
            Arrays.asList("22012", serverText, ordinal, true, 1L, "rollback"));
        conn.commit();
    }

    /** The chunks of a portal are one statement: the statements around them keep their numbers. */
    static void chunksNotCounted(Connection conn) throws SQLException {
        String label = "chunks are not statements";
        scalar(conn, "SELECT 100");                                      // statement 1
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(2);
            ResultSet rs = st.executeQuery("SELECT g FROM generate_series(1,10) g");  // statement 2
            List<Integer> rows = new ArrayList<>();
            readUntilError(rs, rows, 2);
            scalar(conn, "SELECT 101");                                  // statement 3
            readUntilError(rs, rows, 4);                                 // chunk 2: no statement
            scalar(conn, "SELECT 102");                                  // statement 4
            readUntilError(rs, rows, 6);                                 // chunk 3: no statement
            eq("[" + label + "] three chunks read", rows, Arrays.asList(1, 2, 3, 4, 5, 6));
            PSQLException err = null;
            try (Statement st2 = conn.createStatement()) {
                st2.executeQuery("SELECT 1/0").close();                  // statement 5
            } catch (PSQLException e) {
                err = e;
            }
            eq("[" + label + "] SELECT 1/0 fails with 22012", err == null ? null : err.getSQLState(),
                "22012");
            check25P02(conn, label, cause(5, "22012", "division by zero", "SELECT 1/0"));
        }
        conn.rollback();
        eq("[" + label + "] txguard_last_abort() after rollback", lastAbort(conn),
            Arrays.asList("22012", "SELECT 1/0", 5, true, 1L, "rollback"));
        conn.commit();
    }

    static void run() throws Exception {
        String host = System.getenv().getOrDefault("PGHOST", "127.0.0.1");
        String port = System.getenv().getOrDefault("PGPORT", "55441");
        String db = System.getenv().getOrDefault("PGDATABASE", "postgres");
        String user = System.getenv().getOrDefault("PGUSER", "postgres");
        String url = "jdbc:postgresql://" + host + ":" + port + "/" + db
            + "?ApplicationName=txguard-client-test-jdbc-ordinals";
        try (Connection conn = DriverManager.getConnection(url, user, "")) {
            System.out.println("pgjdbc " + conn.getMetaData().getDriverVersion()
                + ", Java " + System.getProperty("java.version"));
            conn.setAutoCommit(false);
            chunkedFailure(conn, "chunked is statement 1, two between", 0, 2, false);
            chunkedFailure(conn, "chunked is statement 2, one between", 1, 1, false);
            chunkedFailure(conn, "PreparedStatement chunked is statement 3, two between", 2, 2, true);
            chunksNotCounted(conn);
        }
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            report(false, "unexpected exception", t);
        }
        System.out.println("jdbc-ordinals: " + passed + " checks passed, " + failed + " failed");
        finish();
    }
}
