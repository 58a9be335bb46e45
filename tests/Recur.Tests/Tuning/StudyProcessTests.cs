using System.Diagnostics;
using System.Text;
using Recur.Tests.Cli;
using Recur.Tuning;

namespace Recur.Tests.Tuning;

/// <summary>
/// Runs <c>recur tune</c> (the built Recur.Cli.dll) as separate worker processes on one study. PostgreSQL tests read
/// the server's URL from RECUR_TEST_POSTGRES: <c>.ci/run</c> always starts a throwaway server and sets it; when it
/// is set, an unreachable server fails the tests; only a local run without it skips them.
/// </summary>
public sealed class StudyProcessTests
{
    public const string PostgresVariable = "RECUR_TEST_POSTGRES";

    internal static string TinyConfig(TempDirectory dir, string name = "tiny.json")
    {
        string path = dir.File(name);
        File.WriteAllText(path, "{\"data\": \"" + CliRunner.DataFile("sunspots-yearly.csv") + "\", " + """
            "epochs": 2, "normalize": "global", "lookback": 12, "batch_size": 64,
             "search": {"lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": true},
                        "hidden": {"type": "int", "low": 2, "high": 6},
                        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
                        "clip": {"type": "float", "low": 0.5, "high": 2, "when": {"optimizer": "sgd"}}}}
            """);
        return path;
    }

    internal sealed class Worker(Process process, StringBuilder output)
    {
        public Process Process { get; } = process;

        public string Output
        {
            get
            {
                lock (output) return output.ToString();
            }
        }

        public int Wait(int seconds = 150)
        {
            if (!Process.WaitForExit(seconds * 1000))
            {
                Process.Kill(entireProcessTree: true);
                Assert.Fail($"recur tune did not finish in {seconds} s:\n{Output}");
            }
            Process.WaitForExit();
            return Process.ExitCode;
        }
    }

    internal static Worker Start(IEnumerable<string> args, double delaySeconds = 0)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Recur.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (delaySeconds > 0) psi.Environment[Tuner.DelayVariable] = delaySeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var output = new StringBuilder();
        var process = new Process { StartInfo = psi };
        void Append(object _, DataReceivedEventArgs e)
        {
            if (e.Data is not null) lock (output) output.AppendLine(e.Data);
        }
        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Worker(process, output);
    }

    private static string[] TuneArgs(string config, string storage, string study, int trials, params string[] more) =>
        ["tune", config, "--storage", storage, "--study", study, "--trials", trials.ToString(), "--threads", "1", .. more];

    /// <summary>Four processes share a study of <paramref name="trials"/> trials: exactly that many finish, each number once.</summary>
    private static void FourWorkers(string storage, int trials)
    {
        using var dir = new TempDirectory();
        string config = TinyConfig(dir);
        string study = "four-" + Guid.NewGuid().ToString("N")[..8];
        var workers = Enumerable.Range(0, 4).Select(_ => Start(TuneArgs(config, storage, study, trials, "--pruner", "median", "--startup-trials", "4"), delaySeconds: 0.3)).ToList();
        foreach (var w in workers) Assert.True(w.Wait() == 0, w.Output);

        using var store = StudyStorage.Open(storage);
        var recorded = store.Trials(store.FindStudy(study)!);
        Assert.Equal(trials, recorded.Count);
        Assert.Equal(trials, recorded.Count(t => t.IsFinished));
        Assert.Equal(Enumerable.Range(0, trials), recorded.Select(t => t.Number).Order());
        Assert.Equal(trials, recorded.Select(t => t.Id).Distinct().Count());
        Assert.All(recorded, t => Assert.True(t.Params.ContainsKey("lr") && t.Value is not null && t.Intermediate.Count >= 1));
        // The work was shared: trials came from more than one process.
        Assert.True(recorded.Select(t => t.Worker!.Split(':')[1]).Distinct().Count() >= 2, string.Join("\n", recorded.Select(t => t.Worker)));
        // Every process's final line names the same study totals.
        Assert.All(workers, w => Assert.Contains($"study '{study}':", w.Output));

        // Rerunning continues the study to a larger total; --show ranks it and writes best.json.
        var more = Start(TuneArgs(config, storage, study, trials + 2));
        Assert.True(more.Wait() == 0, more.Output);
        Assert.Equal(trials + 2, store.Trials(store.FindStudy(study)!).Count(t => t.IsFinished));
        var (exit, stdout, stderr) = CliRunner.Run("tune", "--show", "--storage", storage, "--study", study, "--out", dir.File("show"));
        Assert.True(exit == 0, stderr);
        Assert.Contains("best trials:", stdout);
        Assert.Contains("parameter importance", stdout);
        var best = Recur.Training.TrainConfig.Load(dir.File("show/best.json"));
        Assert.Equal(2, best.Epochs);
        Assert.InRange(best.Lr!.Value, 1e-3, 3e-2);
    }

    [Fact]
    public void FourProcessesShareOneSqliteStudy()
    {
        using var dir = new TempDirectory();
        FourWorkers($"sqlite:///{dir.File("study.db")}", trials: 12);
    }

    [PostgresFact]
    public void FourProcessesShareOnePostgresStudy() => FourWorkers(Environment.GetEnvironmentVariable(PostgresVariable)!, trials: 12);

    /// <summary>A worker killed mid-trial: after the grace period its trial is failed, its parameters retried, and the study finishes.</summary>
    private static void KilledWorker(string storage)
    {
        using var dir = new TempDirectory();
        string config = TinyConfig(dir);
        string study = "killed-" + Guid.NewGuid().ToString("N")[..8];
        string[] flags = ["--grace", "3", "--heartbeat", "0.5"];
        var doomed = Start(TuneArgs(config, storage, study, 5, flags), delaySeconds: 120);
        using var store = StudyStorage.Open(storage);
        TrialRecord? victim = null;
        var clock = Stopwatch.StartNew();
        while (victim is null && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(200);
            if (store.FindStudy(study) is { } s) victim = store.Trials(s).FirstOrDefault(t => t.State == TrialState.Running);
        }
        Assert.True(victim is not null, "the first worker never started a trial:\n" + doomed.Output);
        doomed.Process.Kill(entireProcessTree: true);
        doomed.Process.WaitForExit();

        var survivors = Enumerable.Range(0, 2).Select(_ => Start(TuneArgs(config, storage, study, 5, flags))).ToList();
        foreach (var w in survivors) Assert.True(w.Wait() == 0, w.Output);
        var recorded = store.Trials(store.FindStudy(study)!);
        Assert.Equal(5, recorded.Count(t => t.IsFinished));
        var dead = Assert.Single(recorded, t => t.State == TrialState.Failed);
        Assert.Equal(victim!.Number, dead.Number);
        Assert.Contains("no heartbeat", dead.Message);
        var retry = Assert.Single(recorded, t => t.RetryOf == dead.Number);
        Assert.True(retry.IsFinished);
        Assert.Equal(dead.Params, retry.Params);
        Assert.DoesNotContain(recorded, t => t.State is TrialState.Running or TrialState.Waiting);
        Assert.Contains(survivors, w => w.Output.Contains($"trial {dead.Number} failed: worker"));
    }

    [Fact]
    public void AKilledSqliteWorkersTrialIsFailedAndRetried()
    {
        using var dir = new TempDirectory();
        KilledWorker($"sqlite:///{dir.File("study.db")}");
    }

    [PostgresFact]
    public void AKilledPostgresWorkersTrialIsFailedAndRetried() => KilledWorker(Environment.GetEnvironmentVariable(PostgresVariable)!);
}

/// <summary>A test that needs the PostgreSQL server of RECUR_TEST_POSTGRES; skipped only when the variable is absent (CI always sets it).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(StudyProcessTests.PostgresVariable)))
            Skip = $"{StudyProcessTests.PostgresVariable} is not set (.ci/run always starts PostgreSQL and sets it)";
    }
}
