-- Queries run on fstore and on PostgreSQL 15 by tests/differential.rs:
-- column names, type OIDs, text values and SQLSTATEs must match unless
-- tests/differential/allowed.txt says why not. One query per line; add
-- one for every difference found.
@setup CREATE TABLE diff_t (id BIGINT, n INT, x DOUBLE PRECISION, s TEXT, b BOOLEAN, ts TIMESTAMP, d DATE)
@setup INSERT INTO diff_t VALUES (1, 10, 1.5, 'one', true, '2024-01-05 00:00:00', '2024-01-05'), (2, 20, 2.25, 'two', false, '2024-01-05 12:30:45.5', '2024-02-29'), (3, NULL, NULL, NULL, NULL, NULL, NULL)

-- literals and their names
SELECT 1
SELECT 1 AS one
SELECT -1
SELECT 2147483647
SELECT 2147483648
SELECT 9223372036854775807
SELECT 1.5
SELECT 0.1
SELECT 1e20
SELECT 1.5e-7
SELECT 'abc'
SELECT ''
SELECT true
SELECT false
SELECT NULL
SELECT NULL::int
SELECT 1, 2, 3
SELECT 1 AS a, 'x' AS b, true AS c

-- casts
SELECT 1::bigint
SELECT 1::int
SELECT 1::smallint
SELECT 1::integer
SELECT 3.0::float8
SELECT 3.0::double precision
SELECT 3.5::real
SELECT 1.0::float4
SELECT 1e20::float8
SELECT 1e15::float8
SELECT 1e14::float8
SELECT 123456789.125::float8
SELECT 0.0001::float8
SELECT 0.00001::float8
SELECT (-0.5)::float8
SELECT 100::float8
SELECT 1e6::real
SELECT 123456.0::real
SELECT 'inf'::float8
SELECT '-Infinity'::float8
SELECT 'NaN'::float8
SELECT '12'::int
SELECT '12'::bigint
SELECT 12::text
SELECT 'x'::varchar
SELECT true::text
SELECT 't'::boolean
SELECT 'yes'::boolean
SELECT CAST(5 AS bigint)
SELECT CAST('7' AS integer)
SELECT '2024-01-05'::date
SELECT '2024-01-05'::timestamp
SELECT '2024-01-05 12:30:45'::timestamp
SELECT '2024-01-05 12:30:45.5'::timestamp
SELECT '2024-01-05 12:30:45.123456'::timestamp
SELECT '2024-01-05 12:30:45.120'::timestamp
SELECT TIMESTAMP '2024-01-05 00:00:00'
SELECT DATE '2024-01-05'
SELECT '12:30:00'::time
SELECT 'abc'::bytea
SELECT 1.5::numeric
SELECT 3.14159::numeric(10,2)
SELECT 1::numeric
SELECT '1 day'::interval
SELECT INTERVAL '2 hours'
SELECT INTERVAL '1 day 2 hours 3 minutes'
SELECT '{1,2,3}'::int[]
SELECT ARRAY[1, 2, 3]
SELECT ARRAY['a', 'b']

-- arithmetic and operators
SELECT 1 + 1
SELECT 7 / 2
SELECT 7 % 3
SELECT 2 * 3.5
SELECT 1.0 / 3
SELECT 10 / 4.0
SELECT 2 ^ 10
SELECT -(5)
SELECT 1 = 1
SELECT 1 < 2
SELECT 1 <> 1
SELECT 'a' || 'b'
SELECT 'a' || 1
SELECT 1 IS NULL
SELECT NULL IS NULL
SELECT 1 IS NOT NULL
SELECT NULL = NULL
SELECT true AND false
SELECT true OR NULL
SELECT NOT true
SELECT 1 BETWEEN 0 AND 2
SELECT 5 IN (1, 2, 5)
SELECT 'abc' LIKE 'a%'
SELECT 'abc' ILIKE 'A%'
SELECT 1 IS DISTINCT FROM 2
SELECT NULL IS NOT DISTINCT FROM NULL
SELECT false IS NOT DISTINCT FROM false AND false

-- functions and their column names
SELECT abs(-3)
SELECT abs(-3.5)
SELECT round(2.5)
SELECT round(2.567, 2)
SELECT ceil(1.2)
SELECT floor(1.8)
SELECT sqrt(16)
SELECT power(2, 3)
SELECT mod(7, 3)
SELECT greatest(1, 5, 3)
SELECT least(1, 5, 3)
SELECT coalesce(NULL, 2)
SELECT coalesce(NULL, 'x', 'y')
SELECT nullif(1, 1)
SELECT nullif(1, 2)
SELECT length('hello')
SELECT char_length('hello')
SELECT upper('abc')
SELECT lower('ABC')
SELECT substr('hello', 2, 3)
SELECT substring('hello' from 2 for 3)
SELECT position('l' in 'hello')
SELECT replace('hello', 'l', 'L')
SELECT trim('  x  ')
SELECT ltrim('  x')
SELECT rtrim('x  ')
SELECT btrim('xxaxx', 'x')
SELECT lpad('5', 3, '0')
SELECT rpad('5', 3, '0')
SELECT concat('a', 1, NULL, 'b')
SELECT concat_ws('-', 'a', 'b')
SELECT left('hello', 2)
SELECT right('hello', 2)
SELECT repeat('ab', 3)
SELECT reverse('abc')
SELECT split_part('a,b,c', ',', 2)
SELECT starts_with('hello', 'he')
SELECT md5('abc')
SELECT strpos('hello', 'l')
SELECT initcap('hello world')
SELECT to_hex(255)
SELECT ascii('A')
SELECT chr(65)
SELECT extract(year FROM DATE '2024-01-05')
SELECT extract(epoch FROM TIMESTAMP '2024-01-05 00:00:00')
SELECT date_part('month', DATE '2024-03-05')
SELECT date_trunc('month', TIMESTAMP '2024-03-05 10:00:00')
SELECT date_trunc('day', TIMESTAMP '2024-03-05 10:00:00')
SELECT DATE '2024-01-05' + 1
SELECT TIMESTAMP '2024-01-05 00:00:00' + INTERVAL '1 day'
SELECT TIMESTAMP '2024-01-06 00:00:00' - TIMESTAMP '2024-01-05 00:00:00'
SELECT to_char(TIMESTAMP '2024-01-05 13:04:05', 'YYYY-MM-DD')
SELECT pg_typeof(1)
SELECT pg_typeof(1.5)
SELECT pg_typeof('a'::text)
SELECT pg_typeof(now())
SELECT pg_typeof(current_timestamp)
SELECT pg_typeof(current_date)
SELECT pg_typeof(1.0 / 3)
SELECT pg_typeof(count(*)) FROM diff_t
SELECT now() IS NOT NULL
SELECT current_date IS NOT NULL
SELECT current_database()
SELECT current_schema()
SELECT version() LIKE 'PostgreSQL 15%'
SELECT CASE WHEN 1 = 1 THEN 'yes' ELSE 'no' END
SELECT CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END
SELECT CASE WHEN true THEN 1 END
SELECT (SELECT 1)
SELECT (SELECT max(id) FROM diff_t)
SELECT EXISTS (SELECT 1 FROM diff_t)
SELECT ROW(1, 2)
SELECT array_length(ARRAY[1, 2, 3], 1)
SELECT cardinality(ARRAY[1, 2, 3])
SELECT (ARRAY[10, 20, 30])[2]
SELECT unnest(ARRAY[1, 2])
SELECT generate_series(1, 3)
SELECT * FROM generate_series(1, 3)
SELECT * FROM generate_series(1, 3) AS g(i)
SELECT string_agg(s, ',' ORDER BY s) FROM diff_t
SELECT array_agg(id ORDER BY id) FROM diff_t

-- aggregates
SELECT count(*) FROM diff_t
SELECT count(n) FROM diff_t
SELECT count(DISTINCT b) FROM diff_t
SELECT sum(n) FROM diff_t
SELECT sum(id) FROM diff_t
SELECT sum(x) FROM diff_t
SELECT avg(n) FROM diff_t
SELECT avg(x) FROM diff_t
SELECT min(s), max(s) FROM diff_t
SELECT min(ts), max(ts) FROM diff_t
SELECT min(d) FROM diff_t
SELECT count(*), count(n) FROM diff_t
SELECT bool_and(b), bool_or(b) FROM diff_t
SELECT stddev(x) FROM diff_t
SELECT variance(n) FROM diff_t
SELECT count(*) FROM diff_t WHERE n > 100
SELECT sum(n) FROM diff_t WHERE n > 100
SELECT b, count(*) FROM diff_t GROUP BY b ORDER BY b
SELECT n % 20 AS bucket, count(*) FROM diff_t GROUP BY 1 ORDER BY 1
SELECT count(*) AS c FROM diff_t HAVING count(*) > 1

-- table columns
SELECT * FROM diff_t ORDER BY id
SELECT id, n, x, s, b, ts, d FROM diff_t ORDER BY id
SELECT diff_t.id FROM diff_t ORDER BY 1
SELECT t.s FROM diff_t AS t ORDER BY t.id
SELECT id + 1 FROM diff_t ORDER BY id
SELECT id::text FROM diff_t ORDER BY id
SELECT n::bigint FROM diff_t ORDER BY id
SELECT x * 2 FROM diff_t ORDER BY id
SELECT upper(s) FROM diff_t ORDER BY id
SELECT coalesce(s, '-') FROM diff_t ORDER BY id
SELECT ts::date FROM diff_t ORDER BY id
SELECT d::timestamp FROM diff_t ORDER BY id
SELECT CASE WHEN b THEN 'y' ELSE s END FROM diff_t ORDER BY id
SELECT s IS NULL FROM diff_t ORDER BY id
SELECT id FROM diff_t WHERE s = 'two'
SELECT id FROM diff_t WHERE s IS NULL
SELECT id FROM diff_t WHERE ts > '2024-01-05 06:00:00'
SELECT id FROM diff_t WHERE d = '2024-02-29'
SELECT id FROM diff_t ORDER BY x DESC NULLS LAST
SELECT id FROM diff_t ORDER BY x NULLS FIRST
SELECT id FROM diff_t ORDER BY id LIMIT 2
SELECT id FROM diff_t ORDER BY id LIMIT 1 OFFSET 1
SELECT DISTINCT b FROM diff_t ORDER BY b
SELECT id, row_number() OVER (ORDER BY id DESC) FROM diff_t ORDER BY id
SELECT id, rank() OVER (ORDER BY b) FROM diff_t ORDER BY id
SELECT id, sum(n) OVER (ORDER BY id) FROM diff_t ORDER BY id
SELECT id, lag(n) OVER (ORDER BY id) FROM diff_t ORDER BY id
SELECT a.id, b.id FROM diff_t a JOIN diff_t b ON a.id = b.id ORDER BY 1
SELECT count(*) FROM diff_t a CROSS JOIN diff_t b
SELECT a.id FROM diff_t a LEFT JOIN diff_t b ON a.n = b.n + 10 ORDER BY 1
SELECT id FROM diff_t WHERE id IN (SELECT id FROM diff_t WHERE n = 20)
SELECT id FROM diff_t t WHERE EXISTS (SELECT 1 FROM diff_t u WHERE u.id = t.id + 1) ORDER BY id
SELECT * FROM (SELECT id, s FROM diff_t) sub ORDER BY id
SELECT * FROM (SELECT count(*) FROM diff_t) sub
WITH w AS (SELECT id * 2 AS twice FROM diff_t) SELECT twice FROM w ORDER BY twice
SELECT id FROM diff_t UNION SELECT 10 ORDER BY 1
SELECT 1 UNION ALL SELECT 2
SELECT 1 AS a UNION ALL SELECT 2 ORDER BY a
SELECT id FROM diff_t INTERSECT SELECT 2
SELECT id FROM diff_t EXCEPT SELECT 2 ORDER BY 1
VALUES (1, 'a'), (2, 'b')
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(k, val) ORDER BY k

-- quoted literals compared with booleans; json/jsonb as text types
SELECT id FROM diff_t WHERE b = 't' ORDER BY id
SELECT count(*) FROM diff_t WHERE 'off' <> b
SELECT '{"a": {"b": 1}}'::json -> 'a' AS a
SELECT '{"a": 1, "s": "x"}'::json ->> 's'
SELECT '[10, 20]'::jsonb -> 1
SELECT '{"a": 1}'::jsonb ? 'a'

-- errors and their SQLSTATEs
SELECT 1/0
SELECT 1.0/0
SELECT 'abc'::int
SELECT '2024-13-01'::date
SELECT no_such_column FROM diff_t
SELECT * FROM no_such_table
SELECT no_such_function(1)
SELEC 1
SELECT 1 +
SELECT 2147483647::int + 1
SELECT 9223372036854775807 + 1
SELECT 'x'::boolean
SELECT id FROM diff_t WHERE b = 'maybe'
SELECT id FROM diff_t WHERE s = 1
SELECT sum(s) FROM diff_t
SELECT id, count(*) FROM diff_t
