using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Recur.Data;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Cli;

/// <summary><c>recur train [CONFIG.json] [flags]</c>: trains, evaluates on the test part and writes a run directory.</summary>
internal static class TrainCommand
{
    private static readonly Option<string?> Task = new("--task") { Description = "forecast, classify, tag, lm or seq2seq" };
    private static readonly Option<string?> Data = new("--data") { Description = "CSV or TSV file (forecast, classify, tag), word/TAG file (tag) or text file (lm) to train on" };
    private static readonly Option<string?> Out = new("--out") { Description = "run directory (default runs/<data>-<task>)" };
    private static readonly Option<int?> Epochs = new("--epochs") { Description = "passes over the training part" };
    private static readonly Option<ulong?> Seed = new("--seed") { Description = "random seed (same seed and threads → same model)" };
    private static readonly Option<int?> Threads = new("--threads") { Description = "CPU threads" };
    private static readonly Option<string[]> Target = new("--target") { Description = "forecast: target column; repeat it or give a comma list for several (default: the last numeric column)" };
    private static readonly Option<string?> Features = new("--features") { Description = "forecast: extra input columns, comma-separated (e.g. temp_min,wind)" };
    private static readonly Option<int?> Lookback = new("--lookback") { Description = "forecast: input window length" };
    private static readonly Option<int?> Horizon = new("--horizon") { Description = "forecast: steps to predict" };
    private static readonly Option<int?> Stride = new("--stride") { Description = "forecast: rows between consecutive training windows (default 1)" };
    private static readonly Option<bool> Calendar = new("--calendar") { Description = "forecast: add day-of-week, day-of-year (and hour) inputs from --time-column" };
    private static readonly Option<int?> Season = new("--season") { Description = "forecast: seasonal period for the seasonal-naive baseline and MASE" };
    private static readonly Option<string?> PeriodColumn = new("--period-column") { Description = "forecast: a column whose range gives the seasonal period" };
    private static readonly Option<string?> TimeColumn = new("--time-column") { Description = "forecast: the time column, or integer columns year,month,day or year,period (rows are used in file order)" };
    private static readonly Option<string?> IdColumn = new("--id-column") { Description = "forecast: the column naming each row's series (several series, one global model); tag from a CSV: the column saying which sequence a row belongs to" };
    private static readonly Option<string?> Normalize = new("--normalize") { Description = "forecast: auto, relative, instance or global" };
    private static readonly Option<string?> Missing = new("--missing") { Description = "forecast: missing values: error (default), interpolate, ffill or drop" };
    private static readonly Option<string?> ScalerKind = new("--scaler") { Description = "forecast: standard, minmax or robust (global normalisation and features)" };
    private static readonly Option<string?> TextColumn = new("--text-column") { Description = "classify: text column (character-level)" };
    private static readonly Option<string?> LabelColumn = new("--label-column") { Description = "classify: label column (default: the last column)" };
    private static readonly Option<int?> MaxLength = new("--max-length") { Description = "classify: tokens kept per text; tag: longest sentence allowed, or rows per piece of a CSV sequence" };
    private static readonly Option<string?> SourceColumn = new("--source-column") { Description = "seq2seq: the column of source texts" };
    private static readonly Option<string?> TargetColumn = new("--target-column") { Description = "seq2seq: the column of target texts" };
    private static readonly Option<string?> DecoderAttention = new("--decoder-attention") { Description = "seq2seq: how the decoder attends to the source: dot (default) or additive" };
    private static readonly Option<int?> Beam = new("--beam") { Description = "seq2seq: beam width when decoding (default 1: greedy)" };
    private static readonly Option<int?> MaxTargetLength = new("--max-target-length") { Description = "seq2seq: most tokens a target may have (default: the longest in the file); a longer one is an error" };
    private static readonly Option<int?> MaxTokens = new("--max-tokens") { Description = "variable-length tasks: at most this many padded steps per mini-batch" };
    private static readonly Option<int?> Bptt = new("--bptt") { Description = "lm, forecast --stateful: steps per training window, the truncated back-propagation length (default lm 100, forecast 50)" };
    private static readonly Option<bool?> Stateful = new("--stateful") { Description = "lm (default true), forecast (default false): each series or text as contiguous streams (up to batch-size), --bptt windows in order, state carried between them (detached) and reset every epoch; false: independent windows" };
    private static readonly Option<bool> NoHeader = new("--no-header") { Description = "the file has no header: columns are 0-based indices" };
    private static readonly Option<string?> Cell = new("--cell") { Description = "lstm, gru or rnn" };
    private static readonly Option<int?> Layers = new("--layers") { Description = "stacked recurrent layers" };
    private static readonly Option<int?> Hidden = new("--hidden") { Description = "hidden units per layer" };
    private static readonly Option<string?> Tokenizer = new("--tokenizer") { Description = "classify text: char, word (lower-cased, rare words unknown) or bpe (byte-pair merges trained on the data)" };
    private static readonly Option<int?> MinFrequency = new("--min-frequency") { Description = "word tokenizer: occurrences a word needs to get its own id (default 2)" };
    private static readonly Option<int?> BpeMerges = new("--bpe-merges") { Description = "bpe tokenizer: merges to learn (default 1000)" };
    private static readonly Option<string?> ClassWeights = new("--class-weights") { Description = "classify: none or balanced (weigh rare labels up)" };
    private static readonly Option<int?> EmbeddingSize = new("--embedding-size") { Description = "classify: width of the character embedding" };
    private static readonly Option<double?> Dropout = new("--dropout") { Description = "dropout before the output layer" };
    private static readonly Option<double?> RecurrentDropout = new("--recurrent-dropout") { Description = "variational dropout of h(t-1) in the recurrent product: one mask per sequence and layer, every step" };
    private static readonly Option<double?> InputDropout = new("--input-dropout") { Description = "variational dropout of each recurrent layer's input: one mask per sequence and feature, every step" };
    private static readonly Option<double?> Zoneout = new("--zoneout") { Description = "zoneout: each recurrent unit keeps its previous state with this probability per step" };
    private static readonly Option<bool> LayerNorm = new("--layer-norm") { Description = "layer-normalised recurrent cells (gate pre-activations, and c for LSTM)" };
    private static readonly Option<double?> WeightDecay = new("--weight-decay") { Description = "weight decay (default: adamw 0.01, others 0)" };
    private static readonly Option<string?> Decay = new("--decay") { Description = "how weight decay applies: l2 (added to the gradient) or decoupled (AdamW-style); default decoupled for adamw, l2 otherwise" };
    private static readonly Option<double?> MaxNorm = new("--max-norm") { Description = "cap the norm of each weight row (a unit's incoming weights) after every step" };
    private static readonly Option<bool> Bidirectional = new("--bidirectional") { Description = "a backward direction in every recurrent layer (not for lm)" };
    private static readonly Option<double?> LayerDropout = new("--layer-dropout") { Description = "dropout on each recurrent layer's output but the last, while training" };
    private static readonly Option<bool> Residual = new("--residual") { Description = "residual connections: recurrent layers after the first add their input to their output" };
    private static readonly Option<string?> Decoder = new("--decoder") { Description = "forecast, one target: attention for an encoder–decoder with attention (scored as --attention, dot by default), or none" };
    private static readonly Option<double?> TeacherForcing = new("--teacher-forcing") { Description = "encoder–decoder: teacher-forcing probability of the first epoch (default 1), falling linearly to 0 at the last (scheduled sampling)" };
    private static readonly Option<string?> Attention = new("--attention") { Description = "classify, forecast: none, additive (Bahdanau) or dot (Luong): attention pooling over the real steps instead of the last step" };
    private static readonly Option<int?> CheckpointTime = new("--checkpoint-time") { Description = "gradient checkpointing of the time loop: keep only the states every K steps and recompute each segment in the backward pass (less memory, about one extra forward pass); without a value K = ceil(sqrt(T)); with --bidirectional, --residual or --layer-dropout each layer's output sequence is kept and its directions are checkpointed one by one", Arity = ArgumentArity.ZeroOrOne };
    private static readonly Option<int?> BatchSize = new("--batch-size") { Description = "sequences per mini-batch" };
    private static readonly Option<double?> Lr = new("--lr") { Description = "learning rate" };
    private static readonly Option<string?> Optimizer = new("--optimizer") { Description = "sgd, adam, adamw, rmsprop or nadam" };
    private static readonly Option<double?> Clip = new("--clip") { Description = "gradient-norm limit (0: off)" };
    private static readonly Option<double?> TimeLimit = new("--time-limit") { Description = "stop after this many seconds, keeping the best model" };
    private static readonly Option<int?> Patience = new("--patience") { Description = "early stopping: epochs without validation improvement" };
    private static readonly Option<string?> LrSchedule = new("--lr-schedule") { Description = "constant, step, exponential, cosine, onecycle or plateau" };
    private static readonly Option<string?> Curriculum = new("--curriculum") { Description = "none, length (short sequences first) or self-paced (easy sequences first)" };
    private static readonly Option<int?> CurriculumEpochs = new("--curriculum-epochs") { Description = "epochs over which the curriculum reaches the full task (default: half)" };
    private static readonly Option<string?> Augment = new("--augment") { Description = "augment training batches: jitter=σ,scaling=σ,slicing=r,warping=r (series) or token_dropout=p (text); none: off" };
    private static readonly Option<string?> Resume = new("--resume") { Description = "continue the interrupted run in this run directory from its last checkpoint" };
    private static readonly Option<int?> CheckpointEvery = new("--checkpoint-every") { Description = "also checkpoint every N batches (always at epoch ends)" };
    private static readonly Option<string?> Device = new("--device") { Description = "cpu or auto (cuda comes with the GPU backend)" };
    private static readonly Option<bool> Quiet = new("--quiet") { Description = "no progress on standard error" };
    private static readonly Option<bool> Json = new("--json") { Description = "print the test report as one JSON object" };
    private static readonly Option<string?> InitFrom = new("--init-from") { Description = "start from a pretrained model file: tensors matched by name and shape, vocabulary carried over and extended" };
    private static readonly Option<string?> Freeze = new("--freeze") { Description = "parameters kept fixed: all-but-head, none, or comma-separated name prefixes (e.g. embedding,encoder)" };
    private static readonly Option<int?> UnfreezeEvery = new("--unfreeze-every") { Description = "gradual unfreezing: every N epochs the next frozen group from the top (head → last layer → … → embedding) trains" };
    private static readonly Option<double?> PretrainedLrFactor = new("--pretrained-lr-factor") { Description = "parameters loaded by --init-from train at this factor × --lr (discriminative rates)" };
    private static readonly Argument<string?> Config = new("CONFIG") { Description = "JSON config file (keys: flag names with underscores)", Arity = ArgumentArity.ZeroOrOne };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("train", "Train a model on a CSV/TSV file, evaluate it on the held-out test part and save it.")
        {
            Config, Task, Data, Out, Epochs, Seed, Threads, Target, Features, Lookback, Horizon, Stride, Calendar, Season, PeriodColumn, TimeColumn, IdColumn, Normalize, Missing, ScalerKind,
            TextColumn, LabelColumn, MaxLength, MaxTokens, Bptt, Stateful, NoHeader, Cell, Layers, Hidden, EmbeddingSize, ClassWeights, Tokenizer, MinFrequency, BpeMerges, Dropout, Bidirectional, LayerDropout, Residual, BatchSize, Lr, Optimizer, Clip,
            RecurrentDropout, InputDropout, Zoneout, LayerNorm, WeightDecay, Decay, MaxNorm,
            TimeLimit, Patience, LrSchedule, Curriculum, CurriculumEpochs, Augment, Resume, CheckpointEvery, Device, Quiet, Json,
            Attention, Decoder, TeacherForcing, CheckpointTime, SourceColumn, TargetColumn, DecoderAttention, Beam, MaxTargetLength,
            InitFrom, Freeze, UnfreezeEvery, PretrainedLrFactor,
        };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () => Run(parsed, stdout, stderr)));
        return command;
    }

    private static int Run(ParseResult parsed, TextWriter stdout, TextWriter stderr)
    {
        var configPath = parsed.GetValue(Config);
        if (configPath is not null && configPath.StartsWith('-'))
            throw new InvalidInputException($"unknown flag '{configPath}'; see 'recur train --help' for the accepted flags.");
        var flags = new TrainConfig
        {
            Task = parsed.GetValue(Task), Data = parsed.GetValue(Data), Out = parsed.GetValue(Out), Epochs = parsed.GetValue(Epochs),
            Seed = parsed.GetValue(Seed), Threads = parsed.GetValue(Threads),
            Target = parsed.GetValue(Target) is { Length: > 0 } t ? t : null,
            Features = parsed.GetValue(Features) is string features ? [features] : null,
            Lookback = parsed.GetValue(Lookback), Horizon = parsed.GetValue(Horizon), Stride = parsed.GetValue(Stride), Calendar = parsed.GetValue(Calendar) ? true : null, Season = parsed.GetValue(Season),
            PeriodColumn = parsed.GetValue(PeriodColumn), TimeColumn = parsed.GetValue(TimeColumn), IdColumn = parsed.GetValue(IdColumn), Normalize = parsed.GetValue(Normalize), Missing = parsed.GetValue(Missing), Scaler = parsed.GetValue(ScalerKind),
            TextColumn = parsed.GetValue(TextColumn), LabelColumn = parsed.GetValue(LabelColumn), MaxLength = parsed.GetValue(MaxLength),
            MaxTokens = parsed.GetValue(MaxTokens), Bptt = parsed.GetValue(Bptt), Stateful = parsed.GetValue(Stateful),
            NoHeader = parsed.GetValue(NoHeader) ? true : null, Cell = parsed.GetValue(Cell), Layers = parsed.GetValue(Layers),
            Hidden = parsed.GetValue(Hidden), EmbeddingSize = parsed.GetValue(EmbeddingSize), ClassWeights = parsed.GetValue(ClassWeights), Tokenizer = parsed.GetValue(Tokenizer), MinFrequency = parsed.GetValue(MinFrequency), BpeMerges = parsed.GetValue(BpeMerges), Dropout = parsed.GetValue(Dropout), BatchSize = parsed.GetValue(BatchSize),
            Bidirectional = parsed.GetValue(Bidirectional) ? true : null, LayerDropout = parsed.GetValue(LayerDropout), Residual = parsed.GetValue(Residual) ? true : null,
            Lr = parsed.GetValue(Lr), Optimizer = parsed.GetValue(Optimizer), Clip = parsed.GetValue(Clip),
            RecurrentDropout = parsed.GetValue(RecurrentDropout), InputDropout = parsed.GetValue(InputDropout), Zoneout = parsed.GetValue(Zoneout),
            LayerNorm = parsed.GetValue(LayerNorm) ? true : null, WeightDecay = parsed.GetValue(WeightDecay), Decay = parsed.GetValue(Decay), MaxNorm = parsed.GetValue(MaxNorm),
            TimeLimit = parsed.GetValue(TimeLimit), Patience = parsed.GetValue(Patience), LrSchedule = parsed.GetValue(LrSchedule), CheckpointEvery = parsed.GetValue(CheckpointEvery), Curriculum = parsed.GetValue(Curriculum), CurriculumEpochs = parsed.GetValue(CurriculumEpochs), Device = parsed.GetValue(Device), Quiet = parsed.GetValue(Quiet) ? true : null,
            Augment = parsed.GetValue(Augment) is string augment ? Training.Augmentations.AugmentConfig.Parse(augment) : null,
            CheckpointTime = parsed.GetResult(CheckpointTime) is null ? null : parsed.GetValue(CheckpointTime) ?? 0,
            Attention = parsed.GetValue(Attention), Decoder = parsed.GetValue(Decoder), TeacherForcing = parsed.GetValue(TeacherForcing),
            SourceColumn = parsed.GetValue(SourceColumn), TargetColumn = parsed.GetValue(TargetColumn), DecoderAttention = parsed.GetValue(DecoderAttention),
            Beam = parsed.GetValue(Beam), MaxTargetLength = parsed.GetValue(MaxTargetLength),
            InitFrom = parsed.GetValue(InitFrom), Freeze = parsed.GetValue(Freeze), UnfreezeEvery = parsed.GetValue(UnfreezeEvery), PretrainedLrFactor = parsed.GetValue(PretrainedLrFactor),
        };
        bool json = parsed.GetValue(Json);
        string? resume = parsed.GetValue(Resume);
        TrainConfig config;
        if (resume is not null)
        {
            if (configPath is not null || flags with { Quiet = null } != new TrainConfig())
                throw new InvalidInputException("--resume continues the run with its stored options; only --quiet and --json may be given with it.");
            config = ResumedConfig(resume) with { Quiet = flags.Quiet, Out = resume }; // the directory named, wherever it moved
        }
        else config = (configPath is null ? new TrainConfig() : TrainConfig.Load(configPath)).With(flags);
        Validate(config);

        string dataPath = config.Data ?? throw new InvalidInputException("--data: expected the file to train on; none was given.");
        string task = (config.Task ?? "forecast").ToLowerInvariant();
        string outDir = config.Out ?? Path.Combine("runs", $"{Path.GetFileNameWithoutExtension(dataPath)}-{task}");
        if (resume is null) CheckOutputDirectory(outDir, dataPath);
        // --threads holds while the command runs: in-process (a host or a test running commands), the engine's
        // process-wide thread count is given back after it.
        using var threadScope = config.Threads is int threads ? Engine.UseThreads(threads) : null;
        string checkpointDirectory = Path.Combine(outDir, CheckpointFolder);
        if (resume is null && Directory.Exists(checkpointDirectory)) Directory.Delete(checkpointDirectory, recursive: true);
        config = config with { Task = task, Out = outDir };
        var checkpoints = new CheckpointSettings(checkpointDirectory,
            new Dictionary<string, string> { [ConfigNote] = (config with { Quiet = null }).ToJson() });

        var table = task is "forecast" or "classify" or "seq2seq" ? CsvTable.Read(dataPath, hasHeader: !(config.NoHeader ?? false)) : null;
        // --quiet silences progress only: warnings and alarms still reach standard error.
        var log = stderr;
        TrainedRun Train(TextWriter log, TrainingCallback[] progress) => task switch
        {
            "forecast" => ForecastWorkflow.Train(config, table!, log, progress, checkpoints),
            "classify" => ClassifyWorkflow.Train(config, table!, log, progress, checkpoints),
            "tag" => TagWorkflow.Train(config, dataPath, log, progress, checkpoints),
            "lm" => LanguageModelWorkflow.Train(config, dataPath, log, progress, checkpoints),
            "seq2seq" => SequenceToSequenceWorkflow.Train(config, table!, log, progress, checkpoints),
            _ => throw new InvalidInputException($"--task: expected forecast, classify, tag, lm or seq2seq; found '{config.Task}'."),
        };
        TrainedRun run = config.Quiet == true ? Train(log, []) : TrainingProgress.Show(log, progress => Train(progress.Log, [progress]));
        // The run directory's location is not part of the model: the same training gives the same file anywhere.
        run = run with { Config = run.Config with { Out = null, Quiet = null, CheckpointEvery = null } };
        WriteRunDirectory(outDir, run, stderr);

        var report = ReportJson(run);
        report["run_dir"] = outDir;
        if (json) stdout.WriteLine(report.ToJsonString(ReportPrinter.JsonOptions));
        else
        {
            ReportPrinter.Print(run.Report, stdout);
            stdout.WriteLine($"model: {Path.Combine(outDir, "model.safetensors")}");
            string page = Path.Combine(outDir, Reporting.RunReport.Folder, Reporting.RunReport.Page);
            if (File.Exists(page)) stdout.WriteLine($"report: {page}");
        }
        return RecurCommand.Success;
    }

    /// <summary>The test report with the best epoch, why training stopped early, and the gradient-flow alarms.</summary>
    private static JsonObject ReportJson(TrainedRun run)
    {
        var report = run.Report.ToJson();
        report["best_epoch"] = run.History.BestEpoch;
        report["workspace_peak_bytes"] = run.History.WorkspacePeakBytes;
        if (run.History.StopReason is string reason) report["stop_reason"] = reason;
        if (run.Transfer is { } transfer) report["transfer"] = transfer.ToJson();
        if (run.GradientFlow is { Alarms.Count: > 0 } flow)
            report["alarms"] = new JsonArray(flow.Alarms.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        return report;
    }

    private static void Validate(TrainConfig c)
    {
        static void AtMost(string flag, int? value, int maximum)
        {
            if (value is int v && v > maximum) throw new InvalidInputException($"--{flag}: expected at most {maximum}; found {v}.");
        }
        static void AtLeast(string flag, double? value, double minimum)
        {
            if (value is double v && !(v >= minimum)) throw new InvalidInputException($"--{flag}: expected a value of at least {minimum}; found {v.ToString(CultureInfo.InvariantCulture)}.");
        }
        AtLeast("epochs", c.Epochs, 1);
        AtLeast("threads", c.Threads, 1);
        AtLeast("layers", c.Layers, 1);
        AtLeast("hidden", c.Hidden, 1);
        AtLeast("batch-size", c.BatchSize, 1);
        AtLeast("clip", c.Clip, 0);
        AtLeast("time-limit", c.TimeLimit, 0);
        AtLeast("embedding-size", c.EmbeddingSize, 1);
        AtLeast("patience", c.Patience, 1);
        AtLeast("checkpoint-every", c.CheckpointEvery, 1);
        AtLeast("stride", c.Stride, 1);
        AtMost("stride", c.Stride, 1_000_000);
        MissingValues.Check(c.Missing);
        Scaler.Check(c.Scaler);
        AtLeast("min-frequency", c.MinFrequency, 1);
        AtLeast("bpe-merges", c.BpeMerges, 0);
        AtMost("bpe-merges", c.BpeMerges, 100_000);
        if (c.Tokenizer is string t && t.ToLowerInvariant() is not ("char" or "word" or "bpe"))
            throw new InvalidInputException($"--tokenizer: expected char, word or bpe; found '{t}'.");
        if (c.ClassWeights is string w && w.ToLowerInvariant() is not ("none" or "balanced"))
            throw new InvalidInputException($"--class-weights: expected none or balanced; found '{w}'.");
        AtLeast("curriculum-epochs", c.CurriculumEpochs, 1);
        Training.Curriculum.Parse(c.Curriculum, c.Epochs ?? 1, c.CurriculumEpochs, null);
        AtMost("hidden", c.Hidden, ModelFile.MaxSize);
        AtMost("embedding-size", c.EmbeddingSize, ModelFile.MaxSize);
        AtMost("layers", c.Layers, ModelFile.MaxLayers);
        AtMost("lookback", c.Lookback, 10_000_000);
        AtMost("horizon", c.Horizon, ModelFile.MaxSize);
        AtMost("max-length", c.MaxLength, 1_000_000);
        AtLeast("max-length", c.MaxLength, 1);
        AtLeast("max-tokens", c.MaxTokens, 1);
        AtLeast("bptt", c.Bptt, 1);
        AtMost("bptt", c.Bptt, 100_000);
        if (c.Task is string task && task.ToLowerInvariant() is not ("forecast" or "classify" or "tag" or "lm" or "seq2seq"))
            throw new InvalidInputException($"--task: expected forecast, classify, tag, lm or seq2seq; found '{task}'.");
        AtLeast("beam", c.Beam, 1);
        AtMost("beam", c.Beam, 1_000);
        AtLeast("max-target-length", c.MaxTargetLength, 1);
        AtMost("max-target-length", c.MaxTargetLength, 1_000_000);
        if (c.DecoderAttention is string decoderAttention && Recur.Layers.AttentionKinds.Parse(decoderAttention) == Recur.Layers.AttentionKind.None)
            throw new InvalidInputException("--decoder-attention: expected dot or additive; found 'none' (the decoder always attends).");
        if ((c.Task ?? "forecast").ToLowerInvariant() != "seq2seq"
            && new (string Flag, object? Value)[] { ("source-column", c.SourceColumn), ("target-column", c.TargetColumn), ("decoder-attention", c.DecoderAttention), ("beam", c.Beam), ("max-target-length", c.MaxTargetLength) }
                .FirstOrDefault(o => o.Value is not null) is { Flag: string flag })
            throw new InvalidInputException($"--{flag} applies to --task seq2seq only; found --task {c.Task ?? "forecast"}.");
        if (c.Stateful == true && c.Task?.ToLowerInvariant() is "classify" or "tag")
            throw new InvalidInputException($"--stateful: stateful training applies to --task lm and forecast; {c.Task} sequences are independent.");
        if (c.Stateful == true && (c.Task ?? "forecast").ToLowerInvariant() == "forecast") StatefulForecast.Check(c);
        Schedules.LearningRateSchedule.Parse(c.LrSchedule);
        c.Augment?.Validate();
        if (c.Lr is double lr && !(lr > 0 && double.IsFinite(lr))) throw new InvalidInputException($"--lr: expected a positive learning rate; found {lr.ToString(CultureInfo.InvariantCulture)}.");
        static void Probability(string flag, double? value)
        {
            if (value is double p && !(p >= 0 && p < 1)) throw new InvalidInputException($"--{flag}: expected a probability in [0, 1); found {p.ToString(CultureInfo.InvariantCulture)}.");
        }
        Probability("dropout", c.Dropout);
        Probability("recurrent-dropout", c.RecurrentDropout);
        Probability("input-dropout", c.InputDropout);
        Probability("zoneout", c.Zoneout);
        if (c.WeightDecay is double wd && !(wd >= 0 && double.IsFinite(wd))) throw new InvalidInputException($"--weight-decay: expected a finite value of at least 0; found {wd.ToString(CultureInfo.InvariantCulture)}.");
        if (c.MaxNorm is double mn && !(mn > 0 && double.IsFinite(mn))) throw new InvalidInputException($"--max-norm: expected a positive norm; found {mn.ToString(CultureInfo.InvariantCulture)}.");
        if (c.Decay is string decay) Recur.Optimizers.WeightRegularization.ParseMode(decay, c.Optimizer ?? "adam");
        Probability("layer-dropout", c.LayerDropout);
        if (c.Bidirectional == true && c.Task?.ToLowerInvariant() == "lm") throw new InvalidInputException(LanguageModelWorkflow.BidirectionalRefused);
        if (c.Cell is string cell) Recur.Layers.RecurrentLayers.ParseCell(cell);
        if (c.Attention is string attention && Recur.Layers.AttentionKinds.Parse(attention) != Recur.Layers.AttentionKind.None
            && c.Task?.ToLowerInvariant() is "tag" or "lm")
            throw new InvalidInputException(Recur.Layers.AttentionKinds.Refused);
        if (c.Decoder is string decoder && decoder.Trim().ToLowerInvariant() is not ("none" or "attention"))
            throw new InvalidInputException($"--decoder: expected none or attention; found '{decoder}'.");
        if (c.Decoder?.Trim().ToLowerInvariant() == "attention" && (c.Task ?? "forecast").ToLowerInvariant() != "forecast")
            throw new InvalidInputException("--decoder attention: the encoder–decoder forecasts several steps of one series; use it with --task forecast.");
        if (c.TeacherForcing is double tf && !(tf >= 0 && tf <= 1))
            throw new InvalidInputException($"--teacher-forcing: expected a probability in [0, 1]; found {tf.ToString(CultureInfo.InvariantCulture)}.");
        if (c.Optimizer is string optimizer && !new[] { "sgd", "adam", "adamw", "rmsprop", "nadam" }.Contains(optimizer.ToLowerInvariant()))
            throw new InvalidInputException($"--optimizer: expected one of sgd, adam, adamw, rmsprop, nadam; found '{optimizer}'.");
        AtLeast("unfreeze-every", c.UnfreezeEvery, 1);
        if (c.PretrainedLrFactor is double f && !(f > 0 && double.IsFinite(f)))
            throw new InvalidInputException($"--pretrained-lr-factor: expected a positive factor; found {f.ToString(CultureInfo.InvariantCulture)}.");
        if (c.PretrainedLrFactor is not null && c.InitFrom is null)
            throw new InvalidInputException("--pretrained-lr-factor: there are pretrained parameters only with --init-from MODEL.");
        if (c.InitFrom is string initFrom) PretrainedModel.Open(initFrom);
        switch (c.Device?.ToLowerInvariant())
        {
            case null or "cpu" or "auto": break;
            case "cuda": throw new InvalidInputException("--device cuda: this build has no CUDA backend yet; use --device cpu.");
            default: throw new InvalidInputException($"--device: expected cpu, cuda or auto; found '{c.Device}'.");
        }
    }

    private const string CheckpointFolder = "checkpoints", ConfigNote = "recur.train_config";

    /// <summary>The options of the interrupted run in <paramref name="runDirectory"/>, read from its newest intact checkpoint.</summary>
    private static TrainConfig ResumedConfig(string runDirectory)
    {
        string folder = Path.Combine(runDirectory, CheckpointFolder);
        if (!Directory.Exists(folder))
            throw new InvalidInputException(File.Exists(Path.Combine(runDirectory, "model.safetensors"))
                ? $"--resume: '{runDirectory}' holds a completed run; there is nothing to resume."
                : $"--resume: '{runDirectory}' has no checkpoints; expected the --out directory of an interrupted recur train.");
        foreach (var dir in Directory.EnumerateDirectories(folder).Prepend(folder).Order(StringComparer.Ordinal))
            if (new CheckpointStore(dir).LoadLatest(TextWriter.Null) is { } data && data.Values.TryGetValue(ConfigNote, out var json))
                return TrainConfig.FromJson(json, Path.Combine(dir, CheckpointStore.Last));
        throw new InvalidInputException($"--resume: no intact checkpoint in '{folder}'.");
    }

    /// <summary>Marks a directory as a Recur run: only such a directory (or an empty one) is ever replaced.</summary>
    private const string RunMarker = ".recur-run";

    /// <summary>
    /// Before any work: refuses to replace anything but an earlier run directory (holding <see cref="RunMarker"/>
    /// and no other files than a run writes), a directory holding the data file or the working directory, and
    /// checks that the parent directory can be written.
    /// </summary>
    private static void CheckOutputDirectory(string outDir, string dataPath)
    {
        if (string.IsNullOrWhiteSpace(outDir)) throw new InvalidInputException("--out: expected a directory path; found an empty one.");
        string full;
        try
        {
            full = Path.GetFullPath(outDir);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new InvalidInputException($"--out: '{outDir}' is not a usable path: {e.Message}");
        }
        if (File.Exists(full)) throw new InvalidInputException($"--out: '{outDir}' is a file; expected a directory for the run.");
        string data = Path.GetFullPath(dataPath);
        string cwd = Path.GetFullPath(Environment.CurrentDirectory);
        if (data.StartsWith(full.TrimEnd('/') + "/", StringComparison.Ordinal) || cwd.StartsWith(full.TrimEnd('/') + "/", StringComparison.Ordinal) || full.TrimEnd('/') == cwd.TrimEnd('/'))
            throw new InvalidInputException($"--out: '{outDir}' contains the data file or the working directory; a run directory is replaced whole, so choose a new directory.");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
        {
            bool isRun = (File.Exists(Path.Combine(full, RunMarker)) || Directory.Exists(Path.Combine(full, CheckpointFolder)))
                && Directory.EnumerateDirectories(full).All(d => IsReportFolder(d) || Path.GetFileName(d) == CheckpointFolder)
                && Directory.EnumerateFiles(full).All(f => RunFiles.Contains(Path.GetFileName(f)));
            if (!isRun) throw new InvalidInputException($"--out: '{outDir}' exists and is not a Recur run directory; choose another --out.");
        }
        try
        {
            string parent = Path.GetDirectoryName(full)!;
            Directory.CreateDirectory(parent);
            string probe = Path.Combine(parent, $".recur-probe-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"--out: cannot write next to '{outDir}': {e.Message}");
        }
    }

    /// <summary>The report/ folder a run writes: only its plots and page, nothing nested.</summary>
    private static bool IsReportFolder(string directory) =>
        Path.GetFileName(directory) == Reporting.RunReport.Folder
        && !Directory.EnumerateDirectories(directory).Any()
        && Directory.EnumerateFiles(directory).All(f => Path.GetExtension(f) == ".png" || Path.GetFileName(f) == Reporting.RunReport.Page);

    private static readonly HashSet<string> RunFiles =
        [RunMarker, "model.safetensors", "metrics.csv", "config.json", "report.json", "gradient_flow.csv", "step_gradients.csv", "test_predictions.csv"];

    /// <summary>
    /// Writes model.safetensors, metrics.csv, config.json, report.json and the report (plots, report.html) into a fresh sibling directory and only
    /// then moves it into place, so a failed run leaves nothing half-written.
    /// </summary>
    private static void WriteRunDirectory(string outDir, TrainedRun run, TextWriter stderr)
    {
        string full = Path.GetFullPath(outDir);
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            new ModelFile(run.Model, run.Config, run.DataState, run.Report.ToJson().ToJsonString()).Save(Path.Combine(staging, "model.safetensors"));
            File.WriteAllText(Path.Combine(staging, "metrics.csv"), MetricsCsv(run.History));
            if (run.GradientFlow is { } flow)
            {
                File.WriteAllText(Path.Combine(staging, "gradient_flow.csv"), GradientFlowCsv(flow));
                File.WriteAllText(Path.Combine(staging, "step_gradients.csv"), StepGradientsCsv(flow));
            }
            File.WriteAllText(Path.Combine(staging, "config.json"), run.Config.ToJson());
            if (run.TestPredictionsCsv.Length > 0) File.WriteAllText(Path.Combine(staging, "test_predictions.csv"), run.TestPredictionsCsv);
            File.WriteAllText(Path.Combine(staging, "report.json"), ReportJson(run).ToJsonString(ReportPrinter.JsonOptions));
            File.WriteAllText(Path.Combine(staging, RunMarker), "A Recur run directory: `recur train --out` may replace it whole.\n");
            try
            {
                Reporting.RunReport.Build(staging);
            }
            catch (Exception e) when (e is InvalidInputException or ArgumentException or InvalidOperationException or IOException)
            {
                // The model and its metrics matter more than the pictures: keep the run, say what is missing.
                stderr.WriteLine($"warning: the run report could not be drawn ({e.Message}); 'recur report {outDir}' can try again.");
                string partial = Path.Combine(staging, Reporting.RunReport.Folder);
                if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
            }
            if (Directory.Exists(full))
            {
                // A verified run directory (an earlier run's, or this run's checkpoints): replace its content.
                foreach (var file in Directory.EnumerateFiles(full)) File.Delete(file);
                foreach (var dir in Directory.EnumerateDirectories(full).Where(d => Path.GetFileName(d) != CheckpointFolder)) Directory.Delete(dir, recursive: true);
                foreach (var file in Directory.EnumerateFiles(staging)) File.Move(file, Path.Combine(full, Path.GetFileName(file)));
                foreach (var dir in Directory.EnumerateDirectories(staging)) Directory.Move(dir, Path.Combine(full, Path.GetFileName(dir)));
                // The run is complete: its checkpoints have served their purpose.
                if (Directory.Exists(Path.Combine(full, CheckpointFolder))) Directory.Delete(Path.Combine(full, CheckpointFolder), recursive: true);
            }
            else Directory.Move(staging, full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"--out: cannot write the run directory '{outDir}': {e.Message}");
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static string MetricsCsv(TrainingHistory history)
    {
        var csv = new StringBuilder("epoch,train_loss,validation_loss,learning_rate,seconds,best,skipped_steps,sequence_length,samples,workspace_peak_bytes\n");
        foreach (var e in history.Epochs)
            csv.Append(CultureInfo.InvariantCulture, $"{e.Epoch},{e.TrainLoss:R},{e.ValidationLoss:R},{e.LearningRate:R},{e.Seconds:F3},{(e.Epoch == history.BestEpoch ? 1 : 0)},{e.SkippedSteps},{e.SequenceLength},{e.Samples},{e.WorkspacePeakBytes}\n");
        return csv.ToString();
    }

    /// <summary>Per epoch and parameter group: mean gradient norm and update/weight ratio.</summary>
    private static string GradientFlowCsv(GradientFlowMonitor flow)
    {
        var csv = new StringBuilder("epoch,group,gradient_norm,update_ratio\n");
        foreach (var e in flow.Epochs)
            for (int g = 0; g < e.GroupNames.Length; g++)
                csv.Append(CultureInfo.InvariantCulture, $"{e.Epoch},{e.GroupNames[g]},{e.GradientNorms[g]:R},{e.UpdateRatios[g]:R}\n");
        return csv.ToString();
    }

    /// <summary>Per epoch, recurrent layer and time step: mean ‖dL/dh_t‖ (t = 1 is the first step), and saturated gates.</summary>
    private static string StepGradientsCsv(GradientFlowMonitor flow)
    {
        var csv = new StringBuilder("epoch,layer,step,gradient_norm,saturated_fraction\n");
        foreach (var e in flow.Epochs)
            for (int l = 0; l < e.StepGradientNorms.Length; l++)
                for (int t = 0; t < e.StepGradientNorms[l].Length; t++)
                    csv.Append(CultureInfo.InvariantCulture, $"{e.Epoch},{l},{t + 1},{e.StepGradientNorms[l][t]:R},{e.SaturatedFraction[l]:R}\n");
        return csv.ToString();
    }
}
