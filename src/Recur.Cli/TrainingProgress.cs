using System.Diagnostics;
using System.Globalization;
using Recur.Training;
using Recur.Training.Callbacks;
using Spectre.Console;

namespace Recur.Cli;

/// <summary>
/// Training progress on standard error: on a terminal a live Spectre.Console bar (epoch, batch, loss, validation
/// loss, sequences/s, time left); when redirected, one line per epoch plus a line every
/// <see cref="PlainInterval"/> during long epochs. Lines written through <see cref="Log"/> (warnings, alarms) print
/// above the bar.
/// </summary>
internal sealed class TrainingProgress : TrainingCallback
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);
    private readonly TextWriter _plain;
    private ProgressTask? _task;
    private readonly Stopwatch _sinceLine = new(), _epochClock = new();
    private long _sequences;
    private double _lastLoss = double.NaN, _lastValidation = double.NaN;

    private TrainingProgress(TextWriter plain, IAnsiConsole? console)
    {
        _plain = plain;
        Log = console is null ? plain : new ConsoleLineWriter(console);
    }

    /// <summary>Where warnings and alarms go while progress is shown.</summary>
    public TextWriter Log { get; }

    /// <summary>
    /// Runs <paramref name="work"/> with progress: a live bar when <paramref name="stderr"/> is this process's
    /// standard error on a terminal, plain lines otherwise.
    /// </summary>
    public static T Show<T>(TextWriter stderr, Func<TrainingProgress, T> work)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (!terminal) return work(new TrainingProgress(stderr, null));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var progress = new TrainingProgress(stderr, console) { _task = ctx.AddTask("starting", maxValue: 1) };
                return work(progress);
            });
    }

    public override void OnTrainBegin(TrainingContext context)
    {
        if (_task is not null) (_task.MaxValue, _task.Value) = (Math.Max(1, context.TotalSteps), 0);
        _sinceLine.Restart();
    }

    public override void OnEpochBegin(TrainingContext context)
    {
        _sequences = 0;
        _epochClock.Restart();
    }

    public override void OnBatchEnd(TrainingContext context, BatchRecord batch)
    {
        _sequences += batch.Sequences;
        if (double.IsFinite(batch.Loss)) _lastLoss = batch.Loss;
        double rate = _sequences / Math.Max(1e-9, _epochClock.Elapsed.TotalSeconds);
        string status = string.Create(CultureInfo.InvariantCulture,
            $"epoch {context.Epoch}/{context.Epochs}  batch {context.Batch + 1}/{context.BatchesThisEpoch}  loss {_lastLoss:F4}  val {_lastValidation:F4}  {rate:F0} seq/s");
        if (_task is not null)
        {
            _task.Description = Markup.Escape(status);
            _task.Value = Math.Min(_task.MaxValue, context.GlobalStep + 1);
        }
        else if (_sinceLine.Elapsed >= PlainInterval)
        {
            _plain.WriteLine(status);
            _sinceLine.Restart();
        }
    }

    public override void OnEpochEnd(TrainingContext context, EpochRecord r)
    {
        _lastValidation = r.ValidationLoss;
        double rate = _sequences / Math.Max(1e-9, r.Seconds);
        Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"epoch {r.Epoch,3}/{context.Epochs}{(context.Options.Curriculum is null ? "" : $"  [{r.SequenceLength} steps, {r.Samples} sequences]")}  train loss {r.TrainLoss:F5}  validation loss {r.ValidationLoss:F5}  lr {r.LearningRate:G3}  {r.Seconds:F1}s  {rate:F0} seq/s{(r.Best ? "  *" : "")}{(r.SkippedSteps > 0 ? $"  ({r.SkippedSteps} non-finite steps skipped)" : "")}"));
        _sinceLine.Restart();
    }

    /// <summary>Writes whole lines above the live display.</summary>
    private sealed class ConsoleLineWriter(IAnsiConsole console) : TextWriter
    {
        private readonly System.Text.StringBuilder _line = new();
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                console.WriteLine(_line.ToString().TrimEnd('\r'));
                _line.Clear();
            }
            else _line.Append(value);
        }
    }
}
