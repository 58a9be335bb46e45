using System.Diagnostics;
using System.Globalization;
using Recur.Data;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;
using Recur.Training.Callbacks;

namespace Recur.Tuning;

/// <summary>How a study is run by this process.</summary>
public sealed record TuneOptions
{
    /// <summary>The study's total of trials (finished, pruned, failed by training, running or enqueued); rerunning continues to it.</summary>
    public int Trials { get; init; } = 20;
    public int Workers { get; init; } = 1;
    public string Sampler { get; init; } = "tpe";
    public PrunerSettings Pruner { get; init; } = new();
    public ulong Seed { get; init; } = 42;
    public bool Multivariate { get; init; }
    public int StartupTrials { get; init; } = 10;

    /// <summary>CPU threads for the whole process, divided between the workers (default: all logical processors).</summary>
    public int? Threads { get; init; }

    /// <summary>A running trial whose heartbeat is older than this is declared dead and its parameters enqueued again.</summary>
    public double GraceSeconds { get; init; } = 60;
    public double HeartbeatSeconds { get; init; } = 5;

    /// <summary>Where each finished trial's model is saved (<c>trial-N.safetensors</c>); null: models are not kept.</summary>
    public string? ModelsDirectory { get; init; }
}

/// <summary>Thrown from the per-epoch callback to stop a trial the pruner gave up on.</summary>
public sealed class TrialPrunedException(int step, double value) : Exception($"pruned at epoch {step}")
{
    public int Step { get; } = step;
    public double Value { get; } = value;
}

/// <summary>What one process did for a study.</summary>
public sealed record TuneSummary(int Ran, int Complete, int Pruned, int Failed, long Epochs);

/// <summary>
/// Runs a study's trials: each worker (a thread) claims a trial from the storage, trains the base config with the
/// trial's values through the task's workflow, reports every epoch's validation loss (and asks the pruner), and
/// records the best validation loss (minimised) or the pruned trial's last value. The engine's threads are
/// divided between the workers.
/// </summary>
public sealed class Tuner(TuneConfig config, StudyStorage storage, StudyInfo study, TuneOptions options, TextWriter progress)
{
    /// <summary>Test hook: seconds each trial sleeps (heartbeating) before training, so a test can kill a worker mid-trial.</summary>
    public const string DelayVariable = "RECUR_TUNE_TRIAL_DELAY";

    private readonly object _gate = new();
    private int _ran, _complete, _pruned, _failed;
    private long _epochs;
    private Exception? _fatal;
    private volatile bool _stop;

    /// <summary>Objective override for tests and benchmarks: takes the trial's config and the per-epoch reporter, returns the value.</summary>
    public Func<TrainConfig, Action<int, double>, double>? Objective { get; init; }

    public TuneSummary Run()
    {
        var sampler = Samplers.Create(options.Sampler, options.Seed, options.Multivariate, options.StartupTrials);
        var pruner = options.Pruner.Create(PrunerEpochs(config));
        int threads = options.Threads ?? config.Base.Threads ?? Environment.ProcessorCount;
        // The engine's thread count is process-wide: the study borrows it and gives it back.
        using (Engine.UseThreads(Math.Max(1, threads / options.Workers)))
        {
            string host = Environment.MachineName, process = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            var workers = Enumerable.Range(0, options.Workers).Select(i => new Thread(() => Work($"{host}:{process}:{i}:{Guid.NewGuid().ToString("N")[..6]}", sampler, pruner))
            {
                IsBackground = true, Name = $"tune worker {i}",
            }).ToList();
            foreach (var w in workers) w.Start();
            foreach (var w in workers) w.Join();
        }
        if (_fatal is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_fatal).Throw();
        return new TuneSummary(_ran, _complete, _pruned, _failed, _epochs);
    }

    /// <summary>The epochs every trial of the study trains, when the config fixes them (not in the search, not left to the task's default).</summary>
    public static int? PrunerEpochs(TuneConfig config) =>
        config.Space.Parameters.Any(p => p.Name == "epochs") ? null : config.Base.Epochs;

    private void Work(string worker, ISampler sampler, IPruner? pruner)
    {
        try
        {
            double poll = Math.Clamp(options.GraceSeconds / 4, 0.1, 1);
            while (!_stop)
            {
                var claim = storage.ClaimTrial(study, options.Trials, worker, options.GraceSeconds, config.Space, (trials, n) => sampler.Sample(config.Space, trials, n));
                foreach (var dead in claim.Reaped) Say($"trial {dead.Number} failed: {dead.Message}");
                if (claim.Trial is null)
                {
                    // The budget is given out; while other workers still run trials, wait: one may die and be retried.
                    if (claim.RunningElsewhere == 0) return;
                    Thread.Sleep(TimeSpan.FromSeconds(poll));
                    continue;
                }
                RunTrial(claim.Trial, worker, pruner);
            }
        }
        catch (Exception e)
        {
            lock (_gate) _fatal ??= e;
            _stop = true;
        }
    }

    private void RunTrial(TrialRecord trial, string worker, IPruner? pruner)
    {
        var clock = Stopwatch.StartNew();
        using var heart = new Timer(_ =>
        {
            try
            {
                storage.Heartbeat(trial.Id);
            }
            catch (Exception)
            {
                // A missed beat is retried at the next tick; the grace period covers a few.
            }
        }, null, TimeSpan.FromSeconds(options.HeartbeatSeconds), TimeSpan.FromSeconds(options.HeartbeatSeconds));
        var history = new Dictionary<int, double>();
        void Report(int step, double value)
        {
            history[step] = value;
            Interlocked.Increment(ref _epochs);
            storage.Report(trial.Id, step, value);
            if (pruner is not null && pruner.ShouldPrune(s => storage.ValuesAt(study, s), trial.Number, step, history))
                throw new TrialPrunedException(step, value);
        }
        TrialState state;
        double? value = null;
        string? message = null, modelPath = null;
        Exception? rethrow = null;
        try
        {
            if (Environment.GetEnvironmentVariable(DelayVariable) is string delay && double.TryParse(delay, CultureInfo.InvariantCulture, out double seconds))
                Thread.Sleep(TimeSpan.FromSeconds(seconds));
            var trialConfig = config.Space.Apply(config.Base, trial.Params) with { Quiet = true, Out = null, CheckpointEvery = null };
            if (Objective is not null) value = Objective(trialConfig, Report);
            else
            {
                var run = Train(trialConfig, Report);
                value = run.History.BestValidationLoss;
                if (options.ModelsDirectory is string dir)
                {
                    Directory.CreateDirectory(dir);
                    modelPath = Path.GetFullPath(Path.Combine(dir, $"{Sanitize(study.Name)}-trial-{trial.Number}.safetensors"));
                    new ModelFile(run.Model, run.Config with { Out = null, Quiet = null, CheckpointEvery = null }, run.DataState, run.Report.ToJson().ToJsonString()).Save(modelPath);
                }
            }
            state = value is double v && double.IsFinite(v) ? TrialState.Complete : TrialState.Failed;
            if (state == TrialState.Failed) message = "the validation loss is not finite";
        }
        catch (TrialPrunedException p)
        {
            (state, value, message) = (TrialState.Pruned, p.Value, p.Message);
        }
        catch (InvalidInputException e)
        {
            (state, message) = (TrialState.Failed, e.Message);
            // A base config that cannot train at all (missing file, unknown column) would fail every trial: stop.
            bool anyFinished;
            lock (_gate) anyFinished = _complete + _pruned > 0;
            if (!anyFinished && !storage.Trials(study).Any(t => t.IsFinished)) rethrow = e;
        }
        catch (Exception e)
        {
            (state, message, rethrow) = (TrialState.Failed, $"internal error: {e.Message}", e);
        }
        heart.Change(Timeout.Infinite, Timeout.Infinite);
        bool recorded = storage.Finish(trial.Id, worker, state, value, message, modelPath);
        lock (_gate)
        {
            _ran++;
            if (state == TrialState.Complete) _complete++;
            else if (state == TrialState.Pruned) _pruned++;
            else _failed++;
        }
        if (!recorded) Say($"trial {trial.Number}: dropped (declared dead meanwhile and retried by another worker)");
        else Progress(trial, state, value, message, clock.Elapsed.TotalSeconds);
        if (rethrow is not null) throw rethrow;
    }

    private static string Sanitize(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));

    private void Progress(TrialRecord trial, TrialState state, double? value, string? message, double seconds)
    {
        var best = storage.Trials(study).Where(t => t.State == TrialState.Complete && t.Value is not null).MinBy(t => t.Value);
        string parameters = string.Join(" ", config.Space.Parameters.Where(p => trial.Params.ContainsKey(p.Name) && p.Kind != ParameterKind.Fixed)
            .Select(p => $"{p.Name}={p.Format(trial.Params[p.Name])}"));
        string what = state switch
        {
            TrialState.Complete => $"value {value!.Value.ToString("G6", CultureInfo.InvariantCulture)}",
            TrialState.Pruned => $"pruned at epoch {message?.Split(' ').Last()} with {value!.Value.ToString("G6", CultureInfo.InvariantCulture)}",
            _ => $"failed: {message}",
        };
        string bestText = best is null ? "no complete trial yet" : $"best {best.Value!.Value.ToString("G6", CultureInfo.InvariantCulture)} (trial {best.Number})";
        Say($"trial {trial.Number} {what} · {bestText} · {seconds:F1} s · {parameters}");
    }

    private void Say(string line)
    {
        lock (_gate) progress.WriteLine(line);
    }

    /// <summary>Trains one trial config through its task's workflow with the reporting callback.</summary>
    private static TrainedRun Train(TrainConfig c, Action<int, double> report)
    {
        string data = c.Data ?? throw new InvalidInputException("the config names no \"data\" file to train on.");
        string task = (c.Task ?? "forecast").ToLowerInvariant();
        c = c with { Task = task };
        TrainingCallback[] callbacks = [new ReportingCallback(report)];
        var log = TextWriter.Null;
        return task switch
        {
            "forecast" => ForecastWorkflow.Train(c, CsvTable.Read(data, hasHeader: !(c.NoHeader ?? false)), log, callbacks),
            "classify" => ClassifyWorkflow.Train(c, CsvTable.Read(data, hasHeader: !(c.NoHeader ?? false)), log, callbacks),
            "tag" => TagWorkflow.Train(c, data, log, callbacks),
            "lm" => LanguageModelWorkflow.Train(c, data, log, callbacks),
            _ => throw new InvalidInputException($"task: expected forecast, classify, tag or lm; found '{c.Task}'."),
        };
    }

    /// <summary>
    /// Reports each epoch's validation loss. Steps count epochs across the whole trial, so a forecast that trains
    /// one model per window normalisation (<c>"normalize": "auto"</c>) reports them one after another.
    /// </summary>
    private sealed class ReportingCallback(Action<int, double> report) : TrainingCallback
    {
        private int _step;

        public override void OnEpochEnd(TrainingContext context, EpochRecord epoch) => report(++_step, epoch.ValidationLoss);
    }
}
