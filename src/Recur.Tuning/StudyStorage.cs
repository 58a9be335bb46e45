using System.Data.Common;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Recur.Tuning;

/// <summary>A study as stored: its name, search object and base config (both JSON).</summary>
public sealed record StudyInfo(long Id, string Name, string Search, string Config);

/// <summary>What a worker got when it asked for work.</summary>
/// <param name="Trial">The trial to train, now running under this worker; null when there is none.</param>
/// <param name="RunningElsewhere">Trials other workers still run (a worker with no trial waits while this is positive, in case one of them dies).</param>
/// <param name="Reaped">Running trials this call declared dead (no heartbeat within the grace period) and enqueued again.</param>
public sealed record Claim(TrialRecord? Trial, int RunningElsewhere, IReadOnlyList<TrialRecord> Reaped);

/// <summary>
/// A study database: SQLite (<c>sqlite:///relative/path.db</c>, <c>sqlite:////absolute/path.db</c>) or PostgreSQL
/// (<c>postgresql://user[:password]@host[:port]/database</c>). Schema version <see cref="SchemaVersion"/>:
/// <list type="bullet">
/// <item><c>recur_schema(version)</c></item>
/// <item><c>studies(study_id, name UNIQUE, direction, search, config, created)</c></item>
/// <item><c>trials(trial_id, study_id, number, state, value, worker, retry_of, retried, message, model_path, created, started, finished)</c>, UNIQUE(study_id, number)</item>
/// <item><c>trial_params(trial_id, name, value, value_json)</c> — value in internal form (categorical: index)</item>
/// <item><c>trial_values(trial_id, step, value)</c> — per-epoch validation values</item>
/// <item><c>trial_heartbeats(trial_id, beat)</c> — seconds since 1970 by the database's clock</item>
/// </list>
/// A trial is created (number, parameters, running state, first heartbeat) and finished in one transaction each;
/// creation holds a lock on the study (SQLite: <c>BEGIN IMMEDIATE</c>; PostgreSQL: <c>SELECT … FOR UPDATE</c> on
/// the study row), so trial numbers, grid points and the budget are never given out twice.
/// </summary>
public sealed class StudyStorage : IDisposable
{
    public const int SchemaVersion = 1;

    private readonly Func<DbConnection> _open;
    private readonly bool _postgres;
    private readonly NpgsqlDataSource? _source;

    public string Url { get; }

    private StudyStorage(string url, Func<DbConnection> open, bool postgres, NpgsqlDataSource? source) =>
        (Url, _open, _postgres, _source) = (url, open, postgres, source);

    private string Now => _postgres ? "extract(epoch from clock_timestamp())::double precision" : "((julianday('now') - 2440587.5) * 86400.0)";

    /// <summary>Opens (and if needed creates) the storage at <paramref name="url"/>; an unreachable or unusable database is an <see cref="InvalidInputException"/>.</summary>
    public static StudyStorage Open(string url)
    {
        StudyStorage storage;
        if (url.StartsWith("sqlite:///", StringComparison.OrdinalIgnoreCase))
        {
            string path = url["sqlite:///".Length..];
            if (path.Length == 0) throw new InvalidInputException($"--storage: '{url}' names no file; expected sqlite:///path/study.db.");
            try
            {
                string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
                if (dir is not null) Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new InvalidInputException($"--storage: cannot create the directory for '{path}': {e.Message}");
            }
            string cs = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 120, Pooling = true }.ToString();
            storage = new StudyStorage(url, () =>
            {
                var c = new SqliteConnection(cs);
                c.Open();
                using var pragma = c.CreateCommand();
                pragma.CommandText = "PRAGMA busy_timeout = 120000; PRAGMA foreign_keys = ON;";
                pragma.ExecuteNonQuery();
                return c;
            }, postgres: false, null);
        }
        else if (url.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
        {
            var builder = PostgresConnection(url);
            var source = NpgsqlDataSource.Create(builder);
            storage = new StudyStorage(url, () => source.OpenConnection(), postgres: true, source);
        }
        else throw new InvalidInputException($"--storage: expected sqlite:///path/study.db or postgresql://user@host:port/database; found '{url}'.");
        try
        {
            storage.Initialize();
        }
        catch (Exception e) when (e is DbException or SocketException or TimeoutException or IOException || e.InnerException is SocketException)
        {
            storage.Dispose();
            string where = storage._postgres ? $"the PostgreSQL server at {Describe(url)}" : $"the SQLite file of '{url}'";
            throw new InvalidInputException($"--storage: cannot use {where}: {e.Message}");
        }
        return storage;
    }

    /// <summary>The URL without its password, for messages.</summary>
    public static string Describe(string url)
    {
        if (!url.StartsWith("postgres", StringComparison.OrdinalIgnoreCase)) return url;
        try
        {
            var uri = new Uri(url);
            string user = uri.UserInfo.Split(':')[0];
            return $"{(user.Length > 0 ? user + "@" : "")}{uri.Host}:{(uri.Port > 0 ? uri.Port : 5432)}{uri.AbsolutePath}";
        }
        catch (UriFormatException)
        {
            return url;
        }
    }

    internal static NpgsqlConnectionStringBuilder PostgresConnection(string url)
    {
        Uri uri;
        try
        {
            uri = new Uri(url);
        }
        catch (UriFormatException e)
        {
            throw new InvalidInputException($"--storage: '{url}' is not a valid URL ({e.Message}); expected postgresql://user[:password]@host[:port]/database.");
        }
        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (uri.Host.Length == 0 || database.Length == 0)
            throw new InvalidInputException($"--storage: '{url}' needs a host and a database: postgresql://user[:password]@host[:port]/database.");
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host, Port = uri.Port > 0 ? uri.Port : 5432, Database = database,
            Timeout = 10, CommandTimeout = 120, Pooling = true,
        };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) builder.Password = Uri.UnescapeDataString(parts[1]);
        }
        return builder;
    }

    public void Dispose() => _source?.Dispose();

    // ---------------------------------------------------------------- schema

    private void Initialize()
    {
        using var c = _open();
        if (!_postgres)
        {
            using var wal = c.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            wal.ExecuteNonQuery();
        }
        using var tx = c.BeginTransaction();
        if (_postgres) Exec(c, tx, "SELECT pg_advisory_xact_lock(7301245)");
        string id = _postgres ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
        string real = _postgres ? "DOUBLE PRECISION" : "REAL";
        string key = _postgres ? "BIGINT" : "INTEGER";
        Exec(c, tx, "CREATE TABLE IF NOT EXISTS recur_schema (version INTEGER NOT NULL)");
        var version = Scalar(c, tx, "SELECT MAX(version) FROM recur_schema");
        if (version is not null && version is not DBNull && Convert.ToInt32(version, CultureInfo.InvariantCulture) > SchemaVersion)
            throw new InvalidInputException($"--storage: '{Url}' holds schema version {version}; this recur knows versions up to {SchemaVersion}. Use a newer recur.");
        Exec(c, tx, $"CREATE TABLE IF NOT EXISTS studies (study_id {id}, name TEXT NOT NULL UNIQUE, direction TEXT NOT NULL, search TEXT NOT NULL, config TEXT NOT NULL, created {real})");
        Exec(c, tx, $"CREATE TABLE IF NOT EXISTS trials (trial_id {id}, study_id {key} NOT NULL REFERENCES studies(study_id), number INTEGER NOT NULL, " +
                    $"state TEXT NOT NULL, value {real}, worker TEXT, retry_of INTEGER, retried INTEGER NOT NULL DEFAULT 0, message TEXT, model_path TEXT, " +
                    $"created {real}, started {real}, finished {real}, UNIQUE (study_id, number))");
        Exec(c, tx, $"CREATE TABLE IF NOT EXISTS trial_params (trial_id {key} NOT NULL REFERENCES trials(trial_id), name TEXT NOT NULL, value {real} NOT NULL, value_json TEXT NOT NULL, PRIMARY KEY (trial_id, name))");
        Exec(c, tx, $"CREATE TABLE IF NOT EXISTS trial_values (trial_id {key} NOT NULL REFERENCES trials(trial_id), step INTEGER NOT NULL, value {real} NOT NULL, PRIMARY KEY (trial_id, step))");
        Exec(c, tx, $"CREATE TABLE IF NOT EXISTS trial_heartbeats (trial_id {key} NOT NULL PRIMARY KEY REFERENCES trials(trial_id), beat {real} NOT NULL)");
        Exec(c, tx, "CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study_id, state)");
        if (version is null or DBNull) Exec(c, tx, "INSERT INTO recur_schema (version) VALUES (@v)", ("v", SchemaVersion));
        tx.Commit();
    }

    // ---------------------------------------------------------------- studies

    /// <summary>The study named <paramref name="name"/>, created with this search and config when it does not exist yet.</summary>
    public StudyInfo CreateOrOpenStudy(string name, string search, string config)
    {
        using var c = _open();
        using var tx = c.BeginTransaction();
        if (_postgres) Exec(c, tx, "SELECT pg_advisory_xact_lock(7301246)");
        var found = FindStudy(c, tx, name);
        if (found is null)
        {
            var id = Scalar(c, tx, $"INSERT INTO studies (name, direction, search, config, created) VALUES (@n, 'minimize', @s, @c, {Now}) RETURNING study_id",
                ("n", name), ("s", search), ("c", config));
            found = new StudyInfo(Convert.ToInt64(id, CultureInfo.InvariantCulture), name, search, config);
        }
        else if (!SameJson(found.Search, search))
            throw new InvalidInputException($"--study: study '{name}' in {Describe(Url)} was created with another search space ({found.Search}); " +
                                            "give this search a new --study name, or use the study's own config.");
        tx.Commit();
        return found;
    }

    public StudyInfo? FindStudy(string name)
    {
        using var c = _open();
        return FindStudy(c, null, name);
    }

    public IReadOnlyList<string> StudyNames()
    {
        using var c = _open();
        using var cmd = Command(c, null, "SELECT name FROM studies ORDER BY name");
        using var r = cmd.ExecuteReader();
        var names = new List<string>();
        while (r.Read()) names.Add(r.GetString(0));
        return names;
    }

    private StudyInfo? FindStudy(DbConnection c, DbTransaction? tx, string name)
    {
        using var cmd = Command(c, tx, "SELECT study_id, name, search, config FROM studies WHERE name = @n", ("n", name));
        using var r = cmd.ExecuteReader();
        return r.Read() ? new StudyInfo(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), r.GetString(1), r.GetString(2), r.GetString(3)) : null;
    }

    private static bool SameJson(string a, string b)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(a), System.Text.Json.Nodes.JsonNode.Parse(b));
        }
        catch (System.Text.Json.JsonException)
        {
            return a == b;
        }
    }

    // ---------------------------------------------------------------- trials

    /// <summary>
    /// In one transaction holding the study's lock: marks running trials whose heartbeat is older than
    /// <paramref name="graceSeconds"/> failed and enqueues their parameters again; then gives this worker the oldest
    /// enqueued trial, or — while fewer than <paramref name="budget"/> trials are finished, running or enqueued — a
    /// new trial numbered after the last with parameters from <paramref name="sample"/> (which sees every trial).
    /// </summary>
    public Claim ClaimTrial(StudyInfo study, int budget, string worker, double graceSeconds, SearchSpace space,
        Func<IReadOnlyList<TrialRecord>, int, Dictionary<string, double>> sample)
    {
        using var c = _open();
        using var tx = c.BeginTransaction();
        if (_postgres) Exec(c, tx, "SELECT study_id FROM studies WHERE study_id = @s FOR UPDATE", ("s", study.Id));
        var trials = LoadTrials(c, tx, study.Id);
        var reaped = new List<TrialRecord>();
        if (graceSeconds > 0)
        {
            var stale = new List<long>();
            using (var cmd = Command(c, tx, $"SELECT t.trial_id FROM trials t LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id " +
                                             $"WHERE t.study_id = @s AND t.state = 'running' AND COALESCE(h.beat, t.started) < {Now} - @g", ("s", study.Id), ("g", graceSeconds)))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) stale.Add(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture));
            int next = trials.Count == 0 ? 0 : trials.Max(t => t.Number) + 1;
            foreach (var id in stale)
            {
                var dead = trials.First(t => t.Id == id);
                string why = $"worker {dead.Worker} sent no heartbeat for {graceSeconds:G4} s; parameters enqueued again as trial {next}";
                Exec(c, tx, $"UPDATE trials SET state = 'failed', retried = 1, message = @m, finished = {Now} WHERE trial_id = @t", ("m", why), ("t", id));
                Exec(c, tx, "DELETE FROM trial_heartbeats WHERE trial_id = @t", ("t", id));
                InsertTrial(c, tx, study.Id, next, "waiting", null, dead.Number, dead.Params, space);
                reaped.Add(dead with { State = TrialState.Failed, Message = why });
                next++;
            }
            if (stale.Count > 0) trials = LoadTrials(c, tx, study.Id);
        }
        int runningElsewhere = trials.Count(t => t.State == TrialState.Running);
        TrialRecord? claimed = null;
        var waiting = trials.Where(t => t.State == TrialState.Waiting).MinBy(t => t.Number);
        if (waiting is not null)
        {
            Exec(c, tx, $"UPDATE trials SET state = 'running', worker = @w, started = {Now} WHERE trial_id = @t", ("w", worker), ("t", waiting.Id));
            Exec(c, tx, $"INSERT INTO trial_heartbeats (trial_id, beat) VALUES (@t, {Now})", ("t", waiting.Id));
            claimed = waiting with { State = TrialState.Running, Worker = worker };
        }
        else if (CountsTowardBudget(trials) < budget)
        {
            int number = trials.Count == 0 ? 0 : trials.Max(t => t.Number) + 1;
            var values = sample(trials, number);
            long id = InsertTrial(c, tx, study.Id, number, "running", worker, null, values, space);
            Exec(c, tx, $"INSERT INTO trial_heartbeats (trial_id, beat) VALUES (@t, {Now})", ("t", id));
            claimed = new TrialRecord(id, number, TrialState.Running, null, values) { Worker = worker };
        }
        tx.Commit();
        return new Claim(claimed, runningElsewhere, reaped);
    }

    /// <summary>Trials that use the budget: all but failed ones that were enqueued again (their retry counts instead).</summary>
    public static int CountsTowardBudget(IReadOnlyList<TrialRecord> trials) =>
        trials.Count(t => !(t.State == TrialState.Failed && t.Message?.Contains("enqueued again", StringComparison.Ordinal) == true));

    private long InsertTrial(DbConnection c, DbTransaction tx, long study, int number, string state, string? worker, int? retryOf,
        IReadOnlyDictionary<string, double> values, SearchSpace space)
    {
        var id = Convert.ToInt64(Scalar(c, tx, $"INSERT INTO trials (study_id, number, state, worker, retry_of, created, started) " +
                                               $"VALUES (@s, @n, @st, @w, @r, {Now}, {(state == "running" ? Now : "NULL")}) RETURNING trial_id",
            ("s", study), ("n", number), ("st", state), ("w", worker), ("r", retryOf)), CultureInfo.InvariantCulture);
        foreach (var (name, value) in values)
        {
            var p = space.Parameters.FirstOrDefault(x => x.Name == name);
            string json = p?.ToJson(value)?.ToJsonString() ?? "null";
            Exec(c, tx, "INSERT INTO trial_params (trial_id, name, value, value_json) VALUES (@t, @n, @v, @j)", ("t", id), ("n", name), ("v", value), ("j", json));
        }
        return id;
    }

    public void Heartbeat(long trialId)
    {
        using var c = _open();
        Exec(c, null, $"UPDATE trial_heartbeats SET beat = {Now} WHERE trial_id = @t", ("t", trialId));
    }

    /// <summary>Records the validation value of <paramref name="step"/> (1-based epoch) and beats the heart.</summary>
    public void Report(long trialId, int step, double value)
    {
        using var c = _open();
        using var tx = c.BeginTransaction();
        Exec(c, tx, "INSERT INTO trial_values (trial_id, step, value) VALUES (@t, @s, @v) ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value",
            ("t", trialId), ("s", step), ("v", double.IsFinite(value) ? value : double.MaxValue));
        Exec(c, tx, $"UPDATE trial_heartbeats SET beat = {Now} WHERE trial_id = @t", ("t", trialId));
        tx.Commit();
    }

    /// <summary>
    /// Finishes a running trial of this worker in one transaction. False when the trial is no longer this worker's
    /// (it was declared dead and enqueued again): the result is then dropped, so no trial is counted twice.
    /// </summary>
    public bool Finish(long trialId, string worker, TrialState state, double? value, string? message = null, string? modelPath = null)
    {
        using var c = _open();
        using var tx = c.BeginTransaction();
        int rows = Exec(c, tx, $"UPDATE trials SET state = @st, value = @v, message = @m, model_path = @p, finished = {Now} " +
                               "WHERE trial_id = @t AND state = 'running' AND worker = @w",
            ("st", Name(state)), ("v", value is double v ? (object)(double.IsFinite(v) ? v : double.MaxValue) : null), ("m", message), ("p", modelPath),
            ("t", trialId), ("w", worker));
        Exec(c, tx, "DELETE FROM trial_heartbeats WHERE trial_id = @t", ("t", trialId));
        tx.Commit();
        return rows == 1;
    }

    /// <summary>Every trial of the study, with parameters and intermediate values, by number.</summary>
    public IReadOnlyList<TrialRecord> Trials(StudyInfo study)
    {
        using var c = _open();
        return LoadTrials(c, null, study.Id);
    }

    /// <summary>(trial number, state, value) of every trial that reported a value at <paramref name="step"/>.</summary>
    public IReadOnlyList<(int Number, TrialState State, double Value)> ValuesAt(StudyInfo study, int step)
    {
        using var c = _open();
        using var cmd = Command(c, null, "SELECT t.number, t.state, v.value FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id " +
                                         "WHERE t.study_id = @s AND v.step = @step", ("s", study.Id), ("step", step));
        using var r = cmd.ExecuteReader();
        var list = new List<(int, TrialState, double)>();
        while (r.Read()) list.Add((Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture), Parse(r.GetString(1)), r.GetDouble(2)));
        return list;
    }

    private List<TrialRecord> LoadTrials(DbConnection c, DbTransaction? tx, long study)
    {
        var rows = new List<(long Id, int Number, TrialState State, double? Value, int? RetryOf, string? Worker, string? Message, string? Model, double? Seconds)>();
        using (var cmd = Command(c, tx, "SELECT trial_id, number, state, value, retry_of, worker, message, model_path, finished - started FROM trials WHERE study_id = @s ORDER BY number", ("s", study)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                rows.Add((Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture), Parse(r.GetString(2)),
                    r.IsDBNull(3) ? null : r.GetDouble(3), r.IsDBNull(4) ? null : Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture),
                    r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7),
                    r.IsDBNull(8) ? null : Convert.ToDouble(r.GetValue(8), CultureInfo.InvariantCulture)));
        var parameters = rows.ToDictionary(x => x.Id, _ => new Dictionary<string, double>());
        var values = rows.ToDictionary(x => x.Id, _ => new Dictionary<int, double>());
        using (var cmd = Command(c, tx, "SELECT p.trial_id, p.name, p.value FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = @s", ("s", study)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                if (parameters.TryGetValue(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), out var d)) d[r.GetString(1)] = r.GetDouble(2);
        using (var cmd = Command(c, tx, "SELECT v.trial_id, v.step, v.value FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = @s", ("s", study)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                if (values.TryGetValue(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), out var d)) d[Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture)] = r.GetDouble(2);
        return rows.Select(x => new TrialRecord(x.Id, x.Number, x.State, x.Value, parameters[x.Id])
        {
            Intermediate = values[x.Id], RetryOf = x.RetryOf, Worker = x.Worker, Message = x.Message, ModelPath = x.Model, Seconds = x.Seconds,
        }).ToList();
    }

    public static string Name(TrialState state) => state.ToString().ToLowerInvariant();

    private static TrialState Parse(string state) => Enum.Parse<TrialState>(state, ignoreCase: true);

    // ---------------------------------------------------------------- commands

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private static int Exec(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    private static object? Scalar(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        return cmd.ExecuteScalar();
    }
}
