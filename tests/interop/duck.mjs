// DuckDB as an outside Parquet implementation for the Joules.Parquet interop tests.
// Usage: node duck.mjs '<json request>'   where the request is one of
//   {"op":"read", "file": F, "values": true|false}
//       -> {"rows": N, "columns": {name: {"type": T, "non_null": n, "sum": s, "min": a, "max": b, "values": [...]}},
//           "codecs": [...], "encodings": [...], "page_types": [...]}
//      values and min/max are strings (timestamps as epoch units, blobs as hex) so nothing loses precision in JSON.
//   {"op":"write", "file": F, "rows": N, "codec": C, "version": "v1"|"v2"|null, "row_group_size": R|null}
//       -> writes a deterministic table with DuckDB's own Parquet writer.
import { DuckDBInstance } from '@duckdb/node-api';

const req = JSON.parse(process.argv[2]);
const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
const id = (s) => `"${String(s).replaceAll('"', '""')}"`;

async function rows(sql) {
  const r = await con.runAndReadAll(sql);
  return r.getRowObjectsJS();
}

function render(name, type) {
  const c = id(name);
  if (type.startsWith('TIMESTAMP_NS')) return `CAST(epoch_ns(${c}) AS VARCHAR)`;
  if (type.startsWith('TIMESTAMP_MS')) return `CAST(epoch_ms(${c}) AS VARCHAR)`;
  if (type.startsWith('TIMESTAMP')) return `CAST(epoch_us(${c}) AS VARCHAR)`;
  if (type === 'BLOB') return `hex(${c})`;
  return `CAST(${c} AS VARCHAR)`;
}

function numeric(type) {
  return /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/.test(type);
}

function sumExpr(name, type) {
  const c = id(name);
  if (type.startsWith('TIMESTAMP_NS')) return `CAST(sum(epoch_ns(${c})::HUGEINT) AS VARCHAR)`;
  if (type.startsWith('TIMESTAMP_MS')) return `CAST(sum(epoch_ms(${c})::HUGEINT) AS VARCHAR)`;
  if (type.startsWith('TIMESTAMP')) return `CAST(sum(epoch_us(${c})::HUGEINT) AS VARCHAR)`;
  if (type === 'BOOLEAN') return `CAST(sum(CAST(${c} AS INTEGER)) AS VARCHAR)`;
  if (type === 'FLOAT' || type === 'DOUBLE') return `CAST(sum(CAST(${c} AS DOUBLE)) AS VARCHAR)`;
  if (numeric(type)) return `CAST(sum(CAST(${c} AS HUGEINT)) AS VARCHAR)`;
  if (type === 'VARCHAR') return `CAST(sum(strlen(${c})) AS VARCHAR)`;
  if (type === 'BLOB') return `CAST(sum(octet_length(${c})) AS VARCHAR)`;
  return 'NULL';
}

async function read() {
  const src = `read_parquet(${q(req.file)})`;
  const desc = await rows(`DESCRIBE SELECT * FROM ${src}`);
  const total = Number((await rows(`SELECT count(*)::BIGINT AS n FROM ${src}`))[0].n);
  const out = { rows: total, columns: {} };
  for (const d of desc) {
    const name = d.column_name, type = d.column_type;
    if (/[\[\]]|^STRUCT|^MAP|^UNION/.test(type)) { out.columns[name] = { type, nested: true }; continue; }
    const r = (await rows(`SELECT count(${id(name)})::BIGINT AS nn, ${sumExpr(name, type)} AS s,
        ${render(name, type).replace(id(name), `min(${id(name)})`)} AS mn,
        ${render(name, type).replace(id(name), `max(${id(name)})`)} AS mx FROM ${src}`))[0];
    const col = { type, non_null: Number(r.nn), sum: r.s, min: r.mn, max: r.mx };
    if (req.values) col.values = (await rows(`SELECT ${render(name, type)} AS v FROM ${src}`)).map((x) => x.v);
    out.columns[name] = col;
  }
  const meta = await rows(`SELECT DISTINCT compression, encodings FROM parquet_metadata(${q(req.file)})`);
  out.column_encodings = {};
  for (const m of await rows(`SELECT path_in_schema AS p, encodings AS e FROM parquet_metadata(${q(req.file)})`)) {
    const set = new Set(out.column_encodings[m.p] ?? []);
    for (const e of String(m.e).split(',')) set.add(e.trim());
    out.column_encodings[m.p] = [...set];
  }
  out.codecs = [...new Set(meta.map((m) => String(m.compression)))];
  out.encodings = [...new Set(meta.flatMap((m) => String(m.encodings).split(',').map((e) => e.trim())))];
  return out;
}

async function write() {
  const n = req.rows ?? 1000;
  const opts = [`FORMAT PARQUET`];
  if (req.codec) opts.push(`COMPRESSION ${req.codec}`);
  if (req.version) opts.push(`PARQUET_VERSION ${req.version}`);
  if (req.row_group_size) opts.push(`ROW_GROUP_SIZE ${req.row_group_size}`);
  // Deterministic columns covering the types Joules uses: ints, doubles, floats, bools, strings of low and
  // high cardinality, timestamps, and nulls.
  await con.run(`COPY (
      SELECT i::BIGINT AS id,
             (i % 1000)::INTEGER AS small_int,
             CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 31 % 100003)::INTEGER END AS opt_int,
             (i * 0.25)::DOUBLE AS dbl,
             (i % 100)::FLOAT / 8 AS flt,
             (i % 3 = 0) AS flag,
             'model-' || (i % 5) AS low_card,
             CASE WHEN i % 11 = 0 THEN NULL ELSE 'req-' || i || '-' || md5(i::VARCHAR) END AS high_card,
             TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(i * 1234567) AS ts
      FROM range(${n}) t(i)
    ) TO ${q(req.file)} (${opts.join(', ')})`);
  return { ok: true };
}

try {
  const result = req.op === 'read' ? await read() : req.op === 'write' ? await write() : { error: `unknown op ${req.op}` };
  process.stdout.write(JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  process.exitCode = 2;
}
