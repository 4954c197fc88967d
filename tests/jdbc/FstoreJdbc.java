// Drives fstore with the PostgreSQL JDBC driver (Debian's
// libpostgresql-jdbc-java): DDL, a parameterised INSERT, COPY in through
// CopyManager, reads of a feature group, a feature view and online.* in
// text and binary transfer, an error caught by SQLState, and the
// DatabaseMetaData calls DBeaver and Metabase make to browse a database.
//
// Usage: java -cp postgresql.jar:. FstoreJdbc PORT

import java.io.StringReader;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.postgresql.PGConnection;

public class FstoreJdbc {
    static void check(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }

    static Connection connect(String port, boolean binary) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", "jdbc");
        // prepareThreshold=-1 makes every statement server-prepared so that
        // binaryTransfer applies from the first execution.
        props.setProperty("binaryTransfer", Boolean.toString(binary));
        props.setProperty("prepareThreshold", binary ? "-1" : "5");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/fstore", props);
    }

    public static void main(String[] args) throws Exception {
        String port = args[0];
        try (Connection conn = connect(port, false)) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE FEATURE GROUP devices (device_id BIGINT NOT NULL, seen_at TIMESTAMP NOT NULL, "
                        + "battery DOUBLE PRECISION, model TEXT, PRIMARY KEY (device_id), EVENT TIME (seen_at)) "
                        + "ONLINE COMMENT 'device telemetry'");
                st.execute("CREATE FEATURE GROUP owners (device_id BIGINT NOT NULL, since TIMESTAMP NOT NULL, "
                        + "owner TEXT, PRIMARY KEY (device_id), EVENT TIME (since)) ONLINE");
            }
            try (PreparedStatement insert = conn.prepareStatement("INSERT INTO devices VALUES (?, ?, ?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    insert.setLong(1, i);
                    insert.setTimestamp(2, Timestamp.valueOf("2026-01-0" + i + " 08:00:00"));
                    insert.setDouble(3, 0.5 + i / 10.0);
                    insert.setString(4, "m" + i);
                    check(insert.executeUpdate() == 1, "insert count");
                }
            }
            long copied = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(
                    "COPY owners FROM STDIN (FORMAT csv)",
                    new StringReader("1,2025-12-01 00:00:00,ada\n2,2025-12-01 00:00:00,bob\n"));
            check(copied == 2, "COPY copied " + copied);
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE FEATURE VIEW device_health COMMENT 'battery with owner' AS "
                        + "SELECT d.device_id, d.seen_at, d.battery, o.owner FROM devices d "
                        + "ASOF LEFT JOIN owners o ON d.device_id = o.device_id AND d.seen_at >= o.since");
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM devices")) {
                    check(rs.next() && rs.getLong(1) == 3, "offline count");
                }
                try (ResultSet rs = st.executeQuery("SELECT device_id, owner FROM device_health ORDER BY device_id")) {
                    List<String> rows = new ArrayList<>();
                    while (rs.next()) {
                        rows.add(rs.getLong(1) + ":" + rs.getString(2));
                    }
                    check(rows.toString().equals("[1:ada, 2:bob, 3:null]"), "view rows " + rows);
                }
                try {
                    st.executeQuery("SELECT * FROM no_such_group");
                    throw new AssertionError("missing relation accepted");
                } catch (SQLException e) {
                    check("42P01".equals(e.getSQLState()), "SQLState " + e.getSQLState());
                }
            }
            browse(conn.getMetaData());
        }
        for (boolean binary : new boolean[] {false, true}) {
            try (Connection conn = connect(port, binary);
                 PreparedStatement lookup = conn.prepareStatement(
                         "SELECT device_id, seen_at, battery, model FROM online.devices WHERE device_id = ?");
                 PreparedStatement vector = conn.prepareStatement(
                         "SELECT battery, owner FROM online.device_health WHERE device_id = ?")) {
                lookup.setLong(1, 2);
                try (ResultSet rs = lookup.executeQuery()) {
                    check(rs.next(), "online row");
                    check(rs.getLong(1) == 2 && rs.getString(4).equals("m2"), "online values");
                    check(rs.getTimestamp(2).equals(Timestamp.valueOf("2026-01-02 08:00:00")), "online time " + rs.getTimestamp(2));
                    check(Math.abs(rs.getDouble(3) - 0.7) < 1e-9, "battery " + rs.getDouble(3));
                    check(!rs.next(), "one row per key");
                }
                vector.setLong(1, 1);
                try (ResultSet rs = vector.executeQuery()) {
                    check(rs.next() && "ada".equals(rs.getString(2)), "vector");
                }
            }
        }
        System.out.println("jdbc: ok");
    }

    /** What a database browser asks, and what it must see. */
    static void browse(DatabaseMetaData meta) throws SQLException {
        List<String> schemas = new ArrayList<>();
        try (ResultSet rs = meta.getSchemas()) {
            while (rs.next()) {
                schemas.add(rs.getString("TABLE_SCHEM"));
            }
        }
        check(schemas.containsAll(List.of("public", "online", "fs")), "schemas " + schemas);

        List<String> tables = new ArrayList<>();
        String devicesRemarks = null;
        try (ResultSet rs = meta.getTables(null, "public", "%", null)) {
            while (rs.next()) {
                String name = rs.getString("TABLE_NAME");
                tables.add(name + "/" + rs.getString("TABLE_TYPE"));
                if (name.equals("devices")) {
                    devicesRemarks = rs.getString("REMARKS");
                }
            }
        }
        check(tables.contains("devices/TABLE") && tables.contains("owners/TABLE"), "tables " + tables);
        check(tables.contains("device_health/VIEW"), "feature view listed as a view: " + tables);
        check("device telemetry".equals(devicesRemarks), "remarks " + devicesRemarks);

        List<String> columns = new ArrayList<>();
        try (ResultSet rs = meta.getColumns(null, "public", "devices", "%")) {
            while (rs.next()) {
                columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME")
                        + (rs.getInt("NULLABLE") == DatabaseMetaData.columnNoNulls ? " not null" : ""));
            }
        }
        check(columns.equals(List.of("device_id int8 not null", "seen_at timestamp not null",
                "battery float8", "model text")), "columns " + columns);

        List<String> viewColumns = new ArrayList<>();
        try (ResultSet rs = meta.getColumns(null, "online", "device_health", "%")) {
            while (rs.next()) {
                viewColumns.add(rs.getString("COLUMN_NAME"));
            }
        }
        check(viewColumns.equals(List.of("device_id", "seen_at", "battery", "owner")), "online columns " + viewColumns);

        List<String> keys = new ArrayList<>();
        try (ResultSet rs = meta.getPrimaryKeys(null, "public", "devices")) {
            while (rs.next()) {
                keys.add(rs.getString("COLUMN_NAME") + "#" + rs.getShort("KEY_SEQ") + " " + rs.getString("PK_NAME"));
            }
        }
        check(keys.equals(List.of("device_id#1 devices_pkey")), "primary keys " + keys);

        List<String> indexes = new ArrayList<>();
        try (ResultSet rs = meta.getIndexInfo(null, "public", "devices", false, false)) {
            while (rs.next()) {
                indexes.add(rs.getString("INDEX_NAME") + " " + rs.getString("COLUMN_NAME")
                        + (rs.getBoolean("NON_UNIQUE") ? "" : " unique"));
            }
        }
        check(indexes.equals(List.of("devices_pkey device_id unique")), "indexes " + indexes);

        try (ResultSet rs = meta.getImportedKeys(null, "public", "devices")) {
            check(!rs.next(), "imported keys of a feature group");
        }

        List<String> types = new ArrayList<>();
        try (ResultSet rs = meta.getTypeInfo()) {
            while (rs.next()) {
                types.add(rs.getString("TYPE_NAME"));
            }
        }
        check(types.containsAll(List.of("int8", "float8", "text", "timestamp", "bool")), "types " + types);
    }
}
