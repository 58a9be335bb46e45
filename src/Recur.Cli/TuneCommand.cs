using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recur.Training;
using Recur.Tuning;

namespace Recur.Cli;

/// <summary>
/// <c>recur tune CONFIG.json [flags]</c>: runs (or continues) a hyperparameter study over the config's
/// <c>"search"</c> object; <c>recur tune --show</c> prints a study's best trials and parameter importance and
/// writes its best config.
/// </summary>
internal static class TuneCommand
{
    public const string DefaultStorage = "sqlite:///recur-studies.db";

    private static readonly Argument<string?> Config = new("CONFIG") { Description = "JSON config: training options plus a \"search\" object", Arity = ArgumentArity.ZeroOrOne };
    private static readonly Option<int?> Trials = new("--trials") { Description = "the study's total of trials (default 20); rerunning continues to it, a larger number extends the study" };
    private static readonly Option<string?> Storage = new("--storage") { Description = $"sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://user[:password]@host[:port]/database (default {DefaultStorage})" };
    private static readonly Option<string?> Study = new("--study") { Description = "study name (default: the config file's name)" };
    private static readonly Option<int?> Workers = new("--workers") { Description = "trials trained at once in this process; the CPU threads are divided between them (default 1)" };
    private static readonly Option<string?> Sampler = new("--sampler") { Description = "tpe (default), random or grid" };
    private static readonly Option<string?> Pruner = new("--pruner") { Description = "none (default), median or asha (or the config's \"pruner\")" };
    private static readonly Option<int?> AshaMinEpochs = new("--asha-min-epochs") { Description = "asha: the first rung's epoch r; rungs at r·η^k below the last epoch (default: a quarter of the config's epochs, at least 1; 1 when the epochs are searched or not set)" };
    private static readonly Option<int?> AshaReduction = new("--asha-reduction") { Description = "asha: reduction factor η ≥ 2; the best 1/η at a rung go on (default 3)" };
    private static readonly Option<int?> AshaGraceTrials = new("--asha-grace-trials") { Description = "asha: no pruning at a rung until this many trials reached it (default η)" };
    private static readonly Option<int?> PrunerWarmup = new("--pruner-warmup") { Description = "median: epochs at the start of each trial that are never pruned (default 0)" };
    private static readonly Option<int?> PrunerStartupTrials = new("--pruner-startup-trials") { Description = "median: complete trials at an epoch before it prunes there (default 5)" };
    private static readonly Option<ulong?> Seed = new("--seed") { Description = "sampler seed (default: the config's seed, else 42)" };
    private static readonly Option<bool> Multivariate = new("--multivariate") { Description = "tpe: draw the unconditional parameters jointly" };
    private static readonly Option<int?> StartupTrials = new("--startup-trials") { Description = "tpe: random trials before the model takes over (default 10)" };
    private static readonly Option<int?> Threads = new("--threads") { Description = "CPU threads for this process (default: all)" };
    private static readonly Option<double?> Grace = new("--grace") { Description = "seconds without a heartbeat after which a running trial counts as dead and is retried (default 60)" };
    private static readonly Option<double?> Heartbeat = new("--heartbeat") { Description = "seconds between a running trial's heartbeats (default 5)" };
    private static readonly Option<string?> Models = new("--models") { Description = "keep every finished trial's model in this directory" };
    private static readonly Option<bool> Show = new("--show") { Description = "print the study's best trials and parameter importance, write best.json" };
    private static readonly Option<string?> Out = new("--out") { Description = "--show: directory for best.json, the best model and the plots (default: the current directory)" };
    private static readonly Option<int?> Top = new("--top") { Description = "--show: trials listed (default 10)" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("tune", "Search training options (TPE, random or grid) over a study kept in SQLite or PostgreSQL.")
        {
            Config, Trials, Storage, Study, Workers, Sampler, Pruner, AshaMinEpochs, AshaReduction, AshaGraceTrials, PrunerWarmup, PrunerStartupTrials, Seed, Multivariate, StartupTrials, Threads, Grace, Heartbeat, Models, Show, Out, Top,
        };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () => parsed.GetValue(Show) ? RunShow(parsed, stdout) : RunStudy(parsed, stdout, stderr)));
        return command;
    }

    private static int RunStudy(ParseResult parsed, TextWriter stdout, TextWriter stderr)
    {
        string path = parsed.GetValue(Config) ?? throw new InvalidInputException("recur tune: expected CONFIG.json (training options with a \"search\" object), or --show.");
        if (path.StartsWith('-')) throw new InvalidInputException($"unknown flag '{path}'; see 'recur tune --help' for the accepted flags.");
        var config = TuneConfig.Load(path);
        int trials = AtLeast("--trials", parsed.GetValue(Trials) ?? 20, 1);
        int workers = AtLeast("--workers", parsed.GetValue(Workers) ?? 1, 1);
        int? threads = parsed.GetValue(Threads) is int t ? AtLeast("--threads", t, 1) : null;
        double grace = Positive("--grace", parsed.GetValue(Grace) ?? 60);
        double heartbeat = Positive("--heartbeat", parsed.GetValue(Heartbeat) ?? 5);
        if (heartbeat >= grace) throw new InvalidInputException($"--heartbeat: expected less than --grace ({grace.ToString(CultureInfo.InvariantCulture)} s); found {heartbeat.ToString(CultureInfo.InvariantCulture)}.");
        string sampler = (parsed.GetValue(Sampler) ?? "tpe").ToLowerInvariant();
        var flags = new PrunerSettings
        {
            Name = parsed.GetValue(Pruner) ?? "none", AshaMinEpochs = parsed.GetValue(AshaMinEpochs), AshaReduction = parsed.GetValue(AshaReduction),
            AshaGraceTrials = parsed.GetValue(AshaGraceTrials), MedianWarmup = parsed.GetValue(PrunerWarmup), MedianStartupTrials = parsed.GetValue(PrunerStartupTrials),
        };
        var pruner = (config.Pruner ?? new PrunerSettings()).Override(flags, parsed.GetValue(Pruner) is not null).Validated();
        Samplers.Create(sampler, 0);
        var options = new TuneOptions
        {
            Trials = trials, Workers = workers, Sampler = sampler, Pruner = pruner, Seed = parsed.GetValue(Seed) ?? config.Base.Seed ?? 42,
            Multivariate = parsed.GetValue(Multivariate), StartupTrials = AtLeast("--startup-trials", parsed.GetValue(StartupTrials) ?? 10, 0),
            Threads = threads, GraceSeconds = grace, HeartbeatSeconds = heartbeat, ModelsDirectory = parsed.GetValue(Models),
        };
        string name = parsed.GetValue(Study) ?? Path.GetFileNameWithoutExtension(path);
        string url = parsed.GetValue(Storage) ?? DefaultStorage;
        using var storage = StudyStorage.Open(url);
        var study = storage.CreateOrOpenStudy(name, config.SearchJson, config.Base.ToJson());
        var before = storage.Trials(study);
        stderr.WriteLine($"study '{name}' in {StudyStorage.Describe(url)}: {before.Count(t => t.IsFinished)} finished trials so far; " +
                         $"running to {trials} with {workers} worker(s), sampler {sampler}, pruner {pruner.Describe(Tuner.PrunerEpochs(config))}");
        var summary = new Tuner(config, storage, study, options, stderr).Run();
        var all = storage.Trials(study);
        var best = all.Where(x => x.State == TrialState.Complete).MinBy(x => x.Value);
        stdout.WriteLine($"study '{name}': {all.Count(x => x.State == TrialState.Complete)} complete, {all.Count(x => x.State == TrialState.Pruned)} pruned, " +
                         $"{all.Count(x => x.State == TrialState.Failed)} failed ({summary.Ran} run here, {summary.Epochs} epochs)");
        if (best is not null)
            stdout.WriteLine($"best trial {best.Number}: value {best.Value!.Value.ToString("G6", CultureInfo.InvariantCulture)} {config.Space.ToJson(best.Params).ToJsonString()}");
        return RecurCommand.Success;
    }

    private static int RunShow(ParseResult parsed, TextWriter stdout)
    {
        string url = parsed.GetValue(Storage) ?? DefaultStorage;
        using var storage = StudyStorage.Open(url);
        var names = storage.StudyNames();
        string name = parsed.GetValue(Study) ?? (names.Count == 1 ? names[0]
            : throw new InvalidInputException($"--study: expected a study name; {StudyStorage.Describe(url)} holds {(names.Count == 0 ? "none" : string.Join(", ", names))}."));
        var study = storage.FindStudy(name)
            ?? throw new InvalidInputException($"--study: no study '{name}' in {StudyStorage.Describe(url)}; it holds {(names.Count == 0 ? "none" : string.Join(", ", names))}.");
        var baseConfig = TrainConfig.FromJson(study.Config, $"study '{name}'");
        var space = SearchSpace.Parse(JsonNode.Parse(study.Search)!.AsObject(), baseConfig, $"study '{name}'");
        var trials = storage.Trials(study);
        int top = AtLeast("--top", parsed.GetValue(Top) ?? 10, 1);
        stdout.WriteLine($"study '{name}' ({StudyStorage.Describe(url)}): {trials.Count} trials: {trials.Count(t => t.State == TrialState.Complete)} complete, " +
                         $"{trials.Count(t => t.State == TrialState.Pruned)} pruned, {trials.Count(t => t.State == TrialState.Failed)} failed, " +
                         $"{trials.Count(t => t.State == TrialState.Running)} running, {trials.Count(t => t.State == TrialState.Waiting)} waiting");
        var ranked = trials.Where(t => t.State == TrialState.Complete).OrderBy(t => t.Value).ToList();
        if (ranked.Count == 0)
        {
            stdout.WriteLine("no complete trial yet.");
            return RecurCommand.Success;
        }
        stdout.WriteLine("best trials:");
        stdout.WriteLine($"  {"trial",5}  {"value",-12} {"epochs",6} {"seconds",8}  parameters");
        foreach (var t in ranked.Take(top))
            stdout.WriteLine($"  {t.Number,5}  {t.Value!.Value.ToString("G6", CultureInfo.InvariantCulture),-12} {t.LastStep,6} {(t.Seconds ?? 0).ToString("F1", CultureInfo.InvariantCulture),8}  " +
                             string.Join(" ", space.Parameters.Where(p => t.Params.ContainsKey(p.Name) && p.Kind != ParameterKind.Fixed).Select(p => $"{p.Name}={p.Format(t.Params[p.Name])}")));
        var importance = Importance.Rank(space, trials);
        if (importance.Count > 0)
        {
            stdout.WriteLine("parameter importance (share of the main-effect variance of a random forest fitted to the complete trials):");
            foreach (var (param, share) in importance) stdout.WriteLine($"  {param,-20} {share.ToString("F3", CultureInfo.InvariantCulture)}");
        }
        string outDir = parsed.GetValue(Out) ?? ".";
        Directory.CreateDirectory(outDir);
        var best = ranked[0];
        var bestConfig = space.Apply(baseConfig, best.Params);
        string bestJson = Path.Combine(outDir, "best.json");
        File.WriteAllText(bestJson, bestConfig.ToJson() + "\n");
        stdout.WriteLine($"best config (trial {best.Number}): {bestJson}");
        if (best.ModelPath is string model && File.Exists(model))
        {
            string copy = Path.Combine(outDir, "best.safetensors");
            File.Copy(model, copy, overwrite: true);
            stdout.WriteLine($"best model: {copy}");
        }
        try
        {
            TunePlots.Write(outDir, space, trials);
            stdout.WriteLine($"plots: {Path.Combine(outDir, TunePlots.History)} and {Path.Combine(outDir, TunePlots.SliceFile("*"))}");
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
        {
            stdout.WriteLine($"warning: the plots could not be drawn ({e.Message}).");
        }
        return RecurCommand.Success;
    }

    private static int AtLeast(string flag, int value, int minimum) =>
        value >= minimum ? value : throw new InvalidInputException($"{flag}: expected at least {minimum}; found {value}.");

    private static double Positive(string flag, double value) =>
        value > 0 && double.IsFinite(value) ? value : throw new InvalidInputException($"{flag}: expected a positive number of seconds; found {value.ToString(CultureInfo.InvariantCulture)}.");
}

/// <summary>The study plots of <c>recur tune --show</c>: optimisation history and one slice per parameter.</summary>
internal static class TunePlots
{
    public const string History = "tune_history.png";

    public static string SliceFile(string parameter) => $"tune_slice_{parameter}.png";

    public static void Write(string outDir, SearchSpace space, IReadOnlyList<TrialRecord> trials)
    {
        var complete = trials.Where(t => t.State == TrialState.Complete && t.Value is double v && double.IsFinite(v)).OrderBy(t => t.Number).ToList();
        var plot = Reporting.PlotStyle.Create("optimisation history", "trial", "value (validation loss)");
        var xs = complete.Select(t => (double)t.Number).ToArray();
        var ys = complete.Select(t => t.Value!.Value).ToArray();
        var points = plot.Add.ScatterPoints(xs, ys);
        points.LegendText = "trial";
        var bestSoFar = new double[ys.Length];
        for (int i = 0; i < ys.Length; i++) bestSoFar[i] = i == 0 ? ys[0] : Math.Min(bestSoFar[i - 1], ys[i]);
        if (ys.Length > 0)
        {
            var line = plot.Add.ScatterLine(xs, bestSoFar);
            line.LegendText = "best so far";
        }
        plot.ShowLegend();
        Reporting.PlotStyle.Save(plot, Path.Combine(outDir, History));

        foreach (var p in space.Parameters.Where(p => p.Kind != ParameterKind.Fixed))
        {
            var withParam = complete.Where(t => t.Params.ContainsKey(p.Name)).ToList();
            string axis = p.Log ? $"{p.Name} (log10)" : p.Kind == ParameterKind.Categorical ? $"{p.Name} (choice index)" : p.Name;
            var slice = Reporting.PlotStyle.Create($"slice: {p.Name}", axis, "value (validation loss)");
            slice.Add.ScatterPoints(withParam.Select(t => p.Log ? Math.Log10(t.Params[p.Name]) : t.Params[p.Name]).ToArray(), withParam.Select(t => t.Value!.Value).ToArray());
            Reporting.PlotStyle.Save(slice, Path.Combine(outDir, SliceFile(p.Name)));
        }
    }
}
