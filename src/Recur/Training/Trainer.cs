using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Recur.Autograd;
using Recur.Models;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Training;

/// <summary>One epoch's record: mean training loss over the applied steps, validation loss, skipped steps, time, curriculum position.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss over the applied (finite) steps.</param>
/// <param name="ValidationLoss">Loss on the validation part after the epoch.</param>
/// <param name="Seconds">Wall time of the epoch.</param>
/// <param name="LearningRate">The optimizer's rate at the epoch's last step.</param>
/// <param name="Best">Whether this epoch's weights are the best so far on validation.</param>
/// <param name="SkippedSteps">Steps the numerical guard kept from the weights.</param>
/// <param name="SequenceLength">Steps per training sequence this epoch (less than the full length under a length curriculum).</param>
/// <param name="Samples">Training sequences used this epoch (fewer under a self-paced curriculum).</param>
/// <param name="WorkspacePeakBytes">
/// The highest engine workspace (<see cref="Tensors.Workspace"/>) of any training step this epoch: bytes of the
/// activation buffers a step's forward and backward held at once.
/// </param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double ValidationLoss, double Seconds, double LearningRate, bool Best,
    int SkippedSteps = 0, int SequenceLength = 0, int Samples = 0, long WorkspacePeakBytes = 0);

/// <summary>What <see cref="Trainer.Fit"/> did: every epoch, the best one, and why it stopped early, if it did.</summary>
public sealed record TrainingHistory(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, double BestValidationLoss, string? StopReason, int Rollbacks)
{
    /// <summary>Share of the padded steps in the first epoch's training batches (0 for equal-length sequences).</summary>
    public double PaddingFraction { get; init; }

    /// <summary>The highest engine workspace of any training step (bytes; see <see cref="EpochRecord.WorkspacePeakBytes"/>).</summary>
    public long WorkspacePeakBytes => Epochs.Count == 0 ? 0 : Epochs.Max(e => e.WorkspacePeakBytes);
}

/// <summary>Training diverged: the numerical guard rolled back too often. The message says what to change.</summary>
public sealed class TrainingDivergedException(string message) : InvalidInputException(message);

/// <summary>
/// The fit loop: seeded shuffled mini-batches, a numerical guard, gradient clipping, callbacks, validation after
/// every epoch, and the weights of the best validation epoch restored at the end. Same seed and thread count →
/// same bits.
/// </summary>
/// <remarks>
/// Numerical guard: a batch whose loss or gradient is not finite never reaches the weights; it is skipped and
/// counted. After <see cref="TrainingOptions.MaxConsecutiveBadSteps"/> such batches in a row, the weights and
/// optimizer state return to the last good snapshot (taken at every epoch start) and the learning rate is cut;
/// after <see cref="TrainingOptions.MaxRollbacks"/> rollbacks training stops with <see cref="TrainingDivergedException"/>.
/// </remarks>
public static class Trainer
{
    public static TrainingHistory Fit(SequenceModel model, SequenceDataset train, SequenceDataset validation,
        TrainingOptions options, TextWriter? log = null) =>
        new FitLoop(model, train, validation, options, log ?? TextWriter.Null).Run();

    /// <summary>
    /// The loop and every value it carries between batches, so that a checkpoint can capture all of it and a
    /// resumed run continues bit for bit.
    /// </summary>
    private sealed class FitLoop
    {
        private readonly SequenceModel _model;
        private readonly SequenceDataset _train, _validation;
        private readonly TrainingOptions _options;
        private readonly TrainingContext _context;
        private readonly Optimizer _optimizer;
        private readonly WeightRegularization? _weightRegularization;
        private readonly RecurRandom _random;
        private readonly CheckpointStore? _checkpoints;
        private int[] _order;

        // Batch b trains on _order[_batchStarts[b] .. _batchStarts[b + 1]).
        private int[] _batchStarts = [0];
        private double _paddingFraction;

        // Carried state (saved in checkpoints).
        private int _epoch = 1, _nextBatch, _activeCount;
        private long _globalStep;
        private double _lossSum, _bestLoss = double.PositiveInfinity;
        private int _applied, _skipped, _consecutiveBad, _rollbacks, _bestEpoch;
        private float[][]? _best;
        private float[][] _goodWeights = [];
        private OptimizerState? _goodOptimizer;
        private long _workspacePeak;

        // Stateful training: the detached state the next batch starts from (null: zeros).
        private RecurrentState? _carried;
        private readonly Tensors.WorkspaceMeter _meter = new();

        public FitLoop(SequenceModel model, SequenceDataset train, SequenceDataset validation, TrainingOptions options, TextWriter log)
        {
            if (train.Count == 0) throw new InvalidInputException("The training part is empty: there is nothing to learn from.");
            options.Augmentation?.Check(train);
            if (options.Stateful && train.Streams == 0)
                throw new ArgumentException("Stateful training needs the training windows laid out as streams (SequenceDataset.WithStreams or TokenStreams).", nameof(train));
            if (options.Stateful && options.Curriculum is not null)
                throw new InvalidInputException("--curriculum cannot be combined with stateful training: its windows must come in stream order; use --stateful false.");
            (_model, _train, _validation, _options) = (model, train, validation, options);
            _random = new RecurRandom(options.Seed);
            bool externalDecay = options.WeightDecay is not null;
            _optimizer = options.FineTuning is { } fineTuning ? fineTuning.CreateOptimizer(model, options, externalDecay)
                : CreateOptimizer(options.Optimizer, model.Parameters, options.LearningRate, externalWeightDecay: externalDecay);
            if (options.WeightDecay is not null || options.MaxNorm > 0)
                _weightRegularization = new WeightRegularization(options.WeightDecay ?? 0,
                    WeightRegularization.ParseMode(options.WeightDecayMode, options.Optimizer), options.MaxNorm);
            _order = Enumerable.Range(0, train.Count).ToArray();
            // Gradients of the parameters exist before the first step, so no step's workspace counts them.
            foreach (var p in model.Parameters) _ = p.Grad;
            int batches = options.Stateful ? train.WindowsPerStream : BatchPlan.Count(train, _order, options);
            _context = new TrainingContext(model, _optimizer, options, batches, log)
            {
                // Under a self-paced curriculum early epochs run fewer batches: schedules need the real total.
                TotalSteps = options.Stateful ? (long)batches * options.Epochs : Enumerable.Range(1, options.Epochs).Sum(e =>
                    (long)BatchPlan.Count(train, _order.AsSpan(0, options.Curriculum?.Samples(e, train.Count) ?? train.Count), options)),
            };
            _checkpoints = options.CheckpointDirectory is string dir ? new CheckpointStore(dir) : null;
        }

        public TrainingHistory Run()
        {
            var callbacks = _options.Callbacks;
            var resumed = _checkpoints?.LoadLatest(_context.Log);
            if (resumed is not null && resumed.Values.GetValueOrDefault("completed") == "1")
            {
                Restore(resumed);
                _context.Log.WriteLine($"training had already completed; loaded its final state from {_checkpoints!.Directory}");
                return History();
            }
            foreach (var c in callbacks) c.OnTrainBegin(_context);
            if (_options.Augmentation is { IsEmpty: false } augmentation) _context.Log.WriteLine($"augmenting training batches: {augmentation}");
            if (resumed is not null)
            {
                Restore(resumed);
                _context.Log.WriteLine($"resumed from {_checkpoints!.Directory} at epoch {_epoch}, batch {_nextBatch}");
            }
            var clock = Stopwatch.StartNew();
            for (; _epoch <= _options.Epochs && !_context.StopRequested; _epoch++)
            {
                _context.Epoch = _epoch;
                var epochClock = Stopwatch.StartNew();
                if (_nextBatch == 0)
                {
                    _goodWeights = _model.Snapshot();
                    _goodOptimizer = _optimizer.ExportState();
                    _workspacePeak = 0;
                    if (_options.Stateful) StartStatefulEpoch();
                    else PlanEpoch();
                    (_lossSum, _applied, _skipped) = (0, 0, 0);
                }
                int length = _options.Curriculum?.Length(_epoch, _train.Steps) ?? _train.Steps;
                int batches = _batchStarts.Length - 1;
                _context.BatchesThisEpoch = batches;
                // A resumed epoch continues; it does not begin again (callbacks restored its running state).
                if (_nextBatch == 0)
                    foreach (var c in callbacks) c.OnEpochBegin(_context);
                for (int b = _nextBatch; b < batches; b++)
                {
                    _context.Batch = b;
                    _context.GlobalStep = _globalStep++;
                    RunBatch(b, length, callbacks);
                    if (_options.CheckpointEveryBatches > 0 && (b + 1) % _options.CheckpointEveryBatches == 0 && b + 1 < batches)
                    {
                        _nextBatch = b + 1;
                        _checkpoints?.Save(Capture(completed: false));
                    }
                }
                _nextBatch = 0;
                EndEpoch(epochClock.Elapsed.TotalSeconds, length, callbacks);
                if (_options.TimeLimitSeconds > 0 && clock.Elapsed.TotalSeconds >= _options.TimeLimitSeconds && _epoch < _options.Epochs)
                    _context.RequestStop($"time limit of {_options.TimeLimitSeconds:G4} s reached");
                if (_checkpoints is not null && !_context.StopRequested && _epoch < _options.Epochs)
                {
                    _epoch++;
                    _checkpoints.Save(Capture(completed: false));
                    _epoch--;
                }
            }
            if (_context.StopReason is string reason) _context.Log.WriteLine($"stopped after epoch {_context.Epoch}: {reason}");
            if (_best is not null) _model.Restore(_best);
            foreach (var c in callbacks) c.OnTrainEnd(_context);
            _checkpoints?.SaveCompleted(Capture(completed: true));
            return History();
        }

        /// <summary>An epoch's shuffled order and its batches (independent windows or sequences).</summary>
        private void PlanEpoch()
        {
            _random.Shuffle<int>(_order);
            _activeCount = _options.Curriculum?.Samples(_epoch, _order.Length) ?? _order.Length;
            if (_activeCount < _order.Length) TakeEasiestFirst();
            (_batchStarts, double padding) = BatchPlan.Build(_train, _order.AsSpan(0, _activeCount), _options, _random);
            if (_epoch == 1)
            {
                _paddingFraction = padding;
                if (_train.Lengths is not null)
                    _context.Log.WriteLine($"batches: {_batchStarts.Length - 1} per epoch{(_options.BucketByLength ? ", bucketed by length" : "")}{(_options.MaxTokensPerBatch > 0 ? $", at most {_options.MaxTokensPerBatch} steps each" : "")}; padding: {padding:P1} of steps");
            }
        }

        /// <summary>Stateful epoch: the windows in stream order (batch i = window i of every stream), from a zero state.</summary>
        private void StartStatefulEpoch()
        {
            _activeCount = _order.Length;
            int streams = _train.Streams;
            _batchStarts = Enumerable.Range(0, _train.WindowsPerStream + 1).Select(i => i * streams).ToArray();
            _carried = null;
            if (_epoch == 1)
                _context.Log.WriteLine($"stateful training: {streams} streams, {_train.WindowsPerStream} windows of {_train.Steps} steps each per epoch, in order; state carried between windows (detached), reset every epoch");
        }

        private TrainingHistory History() => new(_context.History, _bestEpoch, _bestLoss, _context.StopReason, _rollbacks) { PaddingFraction = _paddingFraction };

        /// <summary>
        /// Self-paced curriculum: moves the <see cref="_activeCount"/> sequences the model currently finds easiest
        /// (lowest loss; ties by shuffled position) to the front of the shuffled order, keeping their shuffled order.
        /// </summary>
        private void TakeEasiestFirst()
        {
            var losses = PerSequenceLoss(_model, _train);
            var position = new int[_order.Length];
            for (int i = 0; i < _order.Length; i++) position[_order[i]] = i;
            var easiest = _order.OrderBy(r => losses[r]).ThenBy(r => position[r]).Take(_activeCount).ToHashSet();
            _order = [.. _order.Where(easiest.Contains), .. _order.Where(r => !easiest.Contains(r))];
        }

        private void RunBatch(int b, int length, IReadOnlyList<TrainingCallback> callbacks)
        {
            _optimizer.LearningRate = _context.BaseLearningRate;
            _context.CarriedState = _carried;
            foreach (var c in callbacks) c.OnBatchBegin(_context);
            var rows = _order.AsSpan(_batchStarts[b], _batchStarts[b + 1] - _batchStarts[b]);
            // Disposed at the end of the step: its values and caches go back to the workspace pool for the next one.
            using var tape = new Tape();
            SequenceBatch inputs;
            Variable lossVariable;
            RecurrentState? final = null;
            _meter.Reset();
            // The workspace counts what this step's batch, forward and backward allocate in the engine.
            using (Tensors.Workspace.Measure(_meter))
            {
                inputs = _train.Inputs(rows, length);
                Tensors.Tensor? targets = null;
                // Training batches only, on fresh copies; drawn from the trainer's generator, so checkpoints resume them.
                if (_options.Augmentation is { IsEmpty: false } augmentation)
                    (inputs, targets) = augmentation.Apply(new(inputs, _train.Targets is null ? null : _train.TargetBatch(rows)), _random);
                // An encoder–decoder is fed the true previous values (teacher forcing), or by the schedule its own.
                if (_model.Spec.DecoderAttention != Layers.AttentionKind.None)
                    inputs = _train.IsSequenceToSequence ? inputs with { SamplingProbability = _options.SamplingProbability(_epoch) }
                        : inputs with { DecoderTargets = targets ?? _train.TargetBatch(rows), SamplingProbability = _options.SamplingProbability(_epoch) };
                Variable output;
                if (_options.Stateful) (output, final) = _model.ForwardWithState(tape, inputs, training: true, _random, _carried);
                else output = _model.Forward(tape, inputs, training: true, _random);
                lossVariable = LossOf(tape, output, _train, rows, inputs, targets);
                _optimizer.ZeroGrad();
                tape.Backward(lossVariable);
            }
            _workspacePeak = Math.Max(_workspacePeak, _meter.Peak);
            // Detached: the next window starts from these values, but no gradient will flow back into this one.
            if (final is not null) _carried = final.IsFinite() ? final.Detach() : null;
            double loss = lossVariable.Value.Data[0];
            foreach (var c in callbacks) c.OnAfterBackward(_context, loss);

            double norm = GradientClipping.GlobalNorm(_model.Parameters);
            bool finite = double.IsFinite(loss) && double.IsFinite(norm);
            if (finite)
            {
                if (_options.Clip > 0) GradientClipping.ClipByGlobalNorm(_model.Parameters, _options.Clip);
                _weightRegularization?.BeforeStep(_optimizer);
                _optimizer.Step();
                _weightRegularization?.AfterStep(_optimizer);
                int weight = _train.Weight(rows, inputs);
                _lossSum += loss * weight;
                _applied += weight;
                _consecutiveBad = 0;
            }
            else
            {
                _skipped++;
                if (++_consecutiveBad >= _options.MaxConsecutiveBadSteps) RollBack();
            }
            foreach (var c in callbacks) c.OnBatchEnd(_context, new BatchRecord(loss, norm, !finite, rows.Length));
        }

        private void RollBack()
        {
            if (++_rollbacks > _options.MaxRollbacks)
                throw new TrainingDivergedException(
                    $"training diverged: non-finite loss or gradients persisted through {_options.MaxRollbacks} rollbacks " +
                    $"(each halving the learning rate, now {_context.BaseLearningRate:G3}). Lower --lr, set --clip, or check the data for extreme values.");
            _model.Restore(_goodWeights);
            _optimizer.ImportState(_goodOptimizer!);
            _carried = null;
            _context.BaseLearningRate *= _options.RollbackLearningRateFactor;
            _consecutiveBad = 0;
            _context.Log.WriteLine($"numerical guard: {_options.MaxConsecutiveBadSteps} non-finite steps in a row; restored the weights of the start of epoch {_epoch} and cut the learning rate to {_context.BaseLearningRate:G3}");
        }

        private void EndEpoch(double seconds, int length, IReadOnlyList<TrainingCallback> callbacks)
        {
            double trainLoss = _applied > 0 ? _lossSum / _applied : double.NaN;
            double validationLoss = _validation.Count > 0 ? Loss(_model, _validation, _options.BatchSize, _options.Stateful) : trainLoss;
            bool improved = validationLoss < _bestLoss || (_best is null && !double.IsNaN(validationLoss));
            if (improved) (_bestLoss, _bestEpoch, _best) = (validationLoss, _epoch, _model.Snapshot());
            var record = new EpochRecord(_epoch, trainLoss, validationLoss, seconds, _optimizer.LearningRate, improved, _skipped, length, _activeCount, _workspacePeak);
            _context.History.Add(record);
            foreach (var c in callbacks) c.OnEpochEnd(_context, record);
        }

        /// <summary>Everything the loop carries, as of the start of batch <see cref="_nextBatch"/> of epoch <see cref="_epoch"/>.</summary>
        private CheckpointData Capture(bool completed)
        {
            var data = new CheckpointData();
            var v = data.Values;
            foreach (var (key, note) in _options.CheckpointNotes) v[key] = note;
            v["completed"] = completed ? "1" : "0";
            v["epoch"] = Text(_epoch);
            v["next_batch"] = Text(_nextBatch);
            (v["active_count"], v["global_step"]) = (Text(_activeCount), Text(_globalStep));
            v["order"] = JsonSerializer.Serialize(_order);
            v["batch_starts"] = JsonSerializer.Serialize(_batchStarts);
            v["padding_fraction"] = Text(_paddingFraction);
            var rng = _random.Save();
            v["rng"] = JsonSerializer.Serialize(new[] { rng.S0, rng.S1, rng.S2, rng.S3 });
            v["rng_spare"] = rng.SpareNormal is double spare ? Text(spare) : "";
            (v["loss_sum"], v["applied"], v["skipped"]) = (Text(_lossSum), Text(_applied), Text(_skipped));
            (v["consecutive_bad"], v["rollbacks"]) = (Text(_consecutiveBad), Text(_rollbacks));
            (v["best_loss"], v["best_epoch"]) = (Text(_bestLoss), Text(_bestEpoch));
            v["base_lr"] = Text(_context.BaseLearningRate);
            v["stop_reason"] = _context.StopReason ?? "";
            v["history"] = JsonSerializer.Serialize(_context.History, HistoryJson);
            v["workspace_peak"] = Text(_workspacePeak);
            if (_carried is not null)
            {
                v["carried_shape"] = JsonSerializer.Serialize(_carried.Hidden.Value.Shape);
                data.Tensors["carried.hidden"] = _carried.Hidden.Value.Data;
                if (_carried.Cell is not null) data.Tensors["carried.cell"] = _carried.Cell.Value.Data;
            }
            AddWeights(data, "model.", _model.Snapshot());
            if (_best is not null) AddWeights(data, "best.", _best);
            AddOptimizer(data, "optimizer", _optimizer.ExportState());
            if (!completed)
            {
                AddWeights(data, "good.", _goodWeights);
                AddOptimizer(data, "good_optimizer", _goodOptimizer!);
            }
            for (int i = 0; i < _options.Callbacks.Count; i++)
                if (_options.Callbacks[i] is ICheckpointable c) c.SaveState(data, $"callback{i}.");
            return data;
        }

        private void Restore(CheckpointData data)
        {
            try
            {
                _epoch = Int(data.Value("epoch"));
                _nextBatch = Int(data.Value("next_batch"));
                (_activeCount, _globalStep) = (Int(data.Value("active_count")), long.Parse(data.Value("global_step"), CultureInfo.InvariantCulture));
                _order = JsonSerializer.Deserialize<int[]>(data.Value("order"))!;
                _batchStarts = JsonSerializer.Deserialize<int[]>(data.Value("batch_starts"))!;
                _paddingFraction = Double(data.Value("padding_fraction"));
                var s = JsonSerializer.Deserialize<ulong[]>(data.Value("rng"))!;
                string spare = data.Value("rng_spare");
                _random.Restore(new RandomState(s[0], s[1], s[2], s[3], spare.Length == 0 ? null : Double(spare)));
                (_lossSum, _applied, _skipped) = (Double(data.Value("loss_sum")), Int(data.Value("applied")), Int(data.Value("skipped")));
                (_consecutiveBad, _rollbacks) = (Int(data.Value("consecutive_bad")), Int(data.Value("rollbacks")));
                (_bestLoss, _bestEpoch) = (Double(data.Value("best_loss")), Int(data.Value("best_epoch")));
                _context.BaseLearningRate = Double(data.Value("base_lr"));
                if (data.Value("stop_reason") is { Length: > 0 } reason) _context.RequestStop(reason);
                _context.History.Clear();
                _context.History.AddRange(JsonSerializer.Deserialize<List<EpochRecord>>(data.Value("history"), HistoryJson)!);
                _workspacePeak = data.Values.TryGetValue("workspace_peak", out var peak) ? long.Parse(peak, CultureInfo.InvariantCulture) : 0;
                _carried = null;
                if (data.Values.TryGetValue("carried_shape", out var carriedShape))
                {
                    var shape = JsonSerializer.Deserialize<int[]>(carriedShape)!;
                    var hidden = new Variable(new Tensors.Tensor((float[])data.Tensor("carried.hidden").Clone(), shape));
                    var cell = data.Tensors.TryGetValue("carried.cell", out var c) ? new Variable(new Tensors.Tensor((float[])c.Clone(), shape)) : null;
                    _carried = new RecurrentState(hidden, cell);
                }
                _model.Restore(Weights(data, "model."));
                _best = data.Tensors.ContainsKey("best." + _model.Parameters[0].Name) ? Weights(data, "best.") : null;
                _optimizer.ImportState(Optimizer(data, "optimizer"));
                for (int i = 0; i < _options.Callbacks.Count; i++)
                    if (_options.Callbacks[i] is ICheckpointable c) c.LoadState(data, $"callback{i}.");
                if (data.Values["completed"] == "1") return;
                _goodWeights = Weights(data, "good.");
                _goodOptimizer = Optimizer(data, "good_optimizer");
            }
            catch (Exception e) when (e is InvalidDataException or JsonException or FormatException or ArgumentException or KeyNotFoundException or NullReferenceException)
            {
                throw new InvalidInputException($"checkpoint in {_checkpoints!.Directory} does not fit this training (different data, model or options?): {e.Message}");
            }
        }

        private void AddWeights(CheckpointData data, string prefix, float[][] weights)
        {
            for (int i = 0; i < weights.Length; i++) data.Tensors[prefix + _model.Parameters[i].Name] = weights[i];
        }

        private float[][] Weights(CheckpointData data, string prefix) =>
            _model.Parameters.Select(p => data.Tensor(prefix + p.Name) is var t && t.Length == p.Value.Length ? t
                : throw new InvalidDataException($"tensor {prefix}{p.Name} has the wrong size")).ToArray();

        private static void AddOptimizer(CheckpointData data, string prefix, OptimizerState state)
        {
            data.Values[prefix + ".algorithm"] = state.Algorithm;
            data.Values[prefix + ".step"] = Text(state.StepCount);
            data.Values[prefix + ".scalars"] = JsonSerializer.Serialize(state.Scalars.ToDictionary(kv => kv.Key, kv => Text(kv.Value)));
            foreach (var (key, buffer) in state.Buffers) data.Tensors[$"{prefix}.{key}"] = buffer;
        }

        private static OptimizerState Optimizer(CheckpointData data, string prefix)
        {
            var scalars = JsonSerializer.Deserialize<Dictionary<string, string>>(data.Value(prefix + ".scalars"))!
                .ToDictionary(kv => kv.Key, kv => Double(kv.Value));
            var buffers = data.Tensors.Where(kv => kv.Key.StartsWith(prefix + ".", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[(prefix.Length + 1)..], kv => kv.Value);
            return new OptimizerState(data.Value(prefix + ".algorithm"), long.Parse(data.Value(prefix + ".step"), CultureInfo.InvariantCulture), scalars, buffers);
        }

        /// <summary>Losses may be NaN or infinite (a diverging epoch): keep them as named literals.</summary>
        private static readonly JsonSerializerOptions HistoryJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

        private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
        private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
        private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);
        private static double Double(string text) => double.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Mean loss over a dataset (over its real steps for per-step tasks), without dropout. With
    /// <paramref name="stateful"/> and data laid out as streams (<see cref="SequenceDataset.Streams"/>), the windows
    /// run in stream order with the state carried from each to the next (from zeros), so every step sees all the
    /// stream before it; <paramref name="batchSize"/> is then the stream count.
    /// </summary>
    public static double Loss(SequenceModel model, SequenceDataset data, int batchSize, bool stateful = false)
    {
        var rows = Enumerable.Range(0, data.Count).ToArray();
        double sum = 0, weights = 0;
        foreach (var (start, count, _, next) in Batches(model, data, batchSize, stateful))
        {
            var batch = rows.AsSpan(start, count);
            var tape = Tape.Inference;
            var inputs = data.Inputs(batch);
            int weight = data.Weight(batch, inputs);
            sum += LossOf(tape, next(inputs), data, batch, inputs).Value.Data[0] * weight;
            weights += weight;
        }
        return weights > 0 ? sum / weights : double.NaN;
    }

    /// <summary>
    /// Inference batches over rows in order: (start, count, the state the batch starts from, its forward). Stateful
    /// over streams: one batch per window, each continuing from the state the previous one's forward left.
    /// </summary>
    private static IEnumerable<(int Start, int Count, RecurrentState? Initial, Func<SequenceBatch, Variable> Forward)> Batches(
        SequenceModel model, SequenceDataset data, int batchSize, bool stateful)
    {
        if (!stateful || data.Streams == 0)
        {
            for (int start = 0; start < data.Count; start += batchSize)
                yield return (start, Math.Min(batchSize, data.Count - start), null, inputs => model.Forward(Tape.Inference, inputs, training: false, null));
            yield break;
        }
        RecurrentState? state = null;
        for (int start = 0; start < data.Count; start += data.Streams)
        {
            yield return (start, data.Streams, state, inputs =>
            {
                var (output, final) = model.ForwardWithState(Tape.Inference, inputs, training: false, null, state);
                state = final;
                return output;
            });
        }
    }

    /// <summary>
    /// Each sequence's own loss [N] (squared error, cross-entropy, or for per-step tasks the mean cross-entropy
    /// or masked squared error over its real steps), without dropout.
    /// </summary>
    public static double[] PerSequenceLoss(SequenceModel model, SequenceDataset data)
    {
        int O = model.Spec.OutputSize;
        var outputs = Predict(model, data);
        var losses = new double[data.Count];
        for (int n = 0; n < data.Count; n++)
        {
            var row = outputs.AsSpan(n * O, O);
            if (data.IsPerStepRegression)
            {
                int at = n * data.Steps;
                losses[n] = Losses.MeanSquaredError.Forward<float>(outputs.AsSpan(at * O, data.Steps * O), data.StepTargets.AsSpan(at * O, data.Steps * O),
                    data.StepMask.AsSpan(at, data.Steps));
            }
            else if (data.IsPerStep)
            {
                int length = data.Length(n);
                for (int t = 0; t < length; t++)
                    losses[n] += CrossEntropy(outputs.AsSpan((n * data.Steps + t) * O, O), data.StepLabels![n * data.Steps + t]) / length;
            }
            else if (data.IsClassification)
            {
                losses[n] = CrossEntropy(row, data.Labels![n]);
            }
            else
            {
                for (int o = 0; o < O; o++) losses[n] += Math.Pow(row[o] - data.Targets![n * O + o], 2) / O;
            }
        }
        return losses;
    }

    /// <summary>−log softmax(logits)[label], computed stably in double.</summary>
    private static double CrossEntropy(ReadOnlySpan<float> logits, int label)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (var v in logits) max = Math.Max(max, v);
        foreach (var v in logits) sum += Math.Exp(v - max);
        return max + Math.Log(sum) - logits[label];
    }

    /// <summary>
    /// Model outputs for every row, in order, without dropout: [N, O], or [N, T, O] for per-step models (zeros at
    /// padded steps).
    /// </summary>
    /// <remarks>With <paramref name="stateful"/> over streams, as <see cref="Loss"/>: windows in order, state carried.</remarks>
    public static float[] Predict(SequenceModel model, SequenceDataset data, int batchSize = 256, bool stateful = false)
    {
        int outputs = model.Spec.OutputSize, stepsPerRow = model.Spec.PerStep ? data.Steps : 1;
        var result = new float[checked(data.Count * stepsPerRow * outputs)];
        PredictBatches(model, data, (start, inputs, output) =>
        {
            if (!model.Spec.PerStep) { output.CopyTo(result.AsSpan(start * outputs)); return; }
            int L = inputs.Steps;
            for (int b = 0; b < inputs.Batch; b++)
                output.AsSpan(b * L * outputs, (inputs.Lengths?[b] ?? L) * outputs).CopyTo(result.AsSpan((start + b) * data.Steps * outputs));
        }, batchSize, stateful);
        return result;
    }

    /// <summary>
    /// Runs the model over every row in order, batch by batch, handing each batch's first row, inputs and outputs
    /// ([B, O] or per step [B, L, O]) to <paramref name="consume"/> — for scoring data whose outputs would not fit in
    /// memory at once.
    /// </summary>
    public static void PredictBatches(SequenceModel model, SequenceDataset data, Action<int, SequenceBatch, float[]> consume,
        int batchSize = 256, bool stateful = false)
    {
        var rows = Enumerable.Range(0, data.Count).ToArray();
        foreach (var (start, count, _, forward) in Batches(model, data, batchSize, stateful))
        {
            var inputs = data.Inputs(rows.AsSpan(start, count));
            consume(start, inputs, forward(inputs).Value.Data);
        }
    }

    /// <summary>The batch's loss; <paramref name="targets"/> replaces the rows' regression targets (augmented batches).</summary>
    private static Variable LossOf(Tape tape, Variable output, SequenceDataset data, ReadOnlySpan<int> rows, SequenceBatch inputs, Tensors.Tensor? targets = null)
    {
        var classWeights = data.ClassWeights is { } w ? new Tensors.Tensor(w, w.Length) : null;
        if (data.IsPerStepRegression)
        {
            var (stepTargets, stepMask) = data.StepTargetBatch(rows);
            return Losses.Loss.MaskedMeanSquaredError(tape, output, stepTargets, stepMask);
        }
        if (data.IsSequenceToSequence)
        {
            // Cross-entropy of each real target step (the end token included), averaged over them.
            int B = inputs.Batch, U = inputs.DecoderSteps;
            var mask = new Tensors.Tensor(B, U);
            for (int b = 0; b < B; b++) mask.Data.AsSpan(b * U, inputs.DecoderLengths![b]).Fill(1f);
            return Losses.Loss.SoftmaxCrossEntropy(tape, output, inputs.DecoderTokens!, mask);
        }
        if (data.IsPerStep)
        {
            var (labels, mask) = data.StepLabelBatch(rows, inputs);
            return Losses.Loss.SoftmaxCrossEntropy(tape, output, labels, mask, classWeights);
        }
        return data.IsClassification
            ? Losses.Loss.SoftmaxCrossEntropy(tape, output, data.LabelBatch(rows), classWeights: classWeights)
            : Losses.Loss.MeanSquaredError(tape, output, targets ?? data.TargetBatch(rows));
    }

    /// <summary>
    /// The optimizer named on the command line. externalWeightDecay: the caller applies weight decay itself
    /// (<see cref="WeightRegularization"/>), so AdamW is built without its default decay of 0.01.
    /// </summary>
    public static Optimizer CreateOptimizer(string name, IReadOnlyList<Parameter> parameters, double learningRate, bool externalWeightDecay = false) =>
        name.Trim().ToLowerInvariant() switch
        {
            "sgd" => new Sgd(parameters, learningRate, momentum: 0.9),
            "adam" => new Adam(parameters, learningRate),
            "adamw" => externalWeightDecay ? new AdamW(parameters, learningRate, weightDecay: 0) : new AdamW(parameters, learningRate),
            "rmsprop" => new RmsProp(parameters, learningRate),
            "nadam" => new Nadam(parameters, learningRate),
            _ => throw new InvalidInputException($"--optimizer: expected one of sgd, adam, adamw, rmsprop, nadam; found '{name}'."),
        };
}
