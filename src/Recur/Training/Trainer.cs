using System.Diagnostics;
using Recur.Autograd;
using Recur.Models;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Training.Callbacks;

namespace Recur.Training;

/// <summary>One epoch's record: mean training loss over the applied steps, validation loss, skipped steps, time.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double ValidationLoss, double Seconds, double LearningRate, bool Best, int SkippedSteps = 0);

/// <summary>What <see cref="Trainer.Fit"/> did: every epoch, the best one, and why it stopped early, if it did.</summary>
public sealed record TrainingHistory(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, double BestValidationLoss, string? StopReason, int Rollbacks);

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
        TrainingOptions options, TextWriter? log = null)
    {
        if (train.Count == 0) throw new InvalidInputException("The training part is empty: there is nothing to learn from.");
        var random = new RecurRandom(options.Seed);
        var optimizer = CreateOptimizer(options.Optimizer, model.Parameters, options.LearningRate);
        int batches = (train.Count + options.BatchSize - 1) / options.BatchSize;
        var context = new TrainingContext(model, optimizer, options, batches, log ?? TextWriter.Null);
        var callbacks = options.Callbacks;
        var order = Enumerable.Range(0, train.Count).ToArray();
        var clock = Stopwatch.StartNew();
        float[][]? best = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0, rollbacks = 0, consecutiveBad = 0;
        string? stopReason = null;

        foreach (var c in callbacks) c.OnTrainBegin(context);
        for (int epoch = 1; epoch <= options.Epochs && !context.StopRequested; epoch++)
        {
            context.Epoch = epoch;
            var epochClock = Stopwatch.StartNew();
            var goodWeights = model.Snapshot();
            var goodOptimizer = optimizer.ExportState();
            foreach (var c in callbacks) c.OnEpochBegin(context);
            random.Shuffle<int>(order);
            double lossSum = 0;
            int applied = 0, skipped = 0;
            for (int b = 0; b < batches; b++, context.GlobalStep++)
            {
                context.Batch = b;
                optimizer.LearningRate = context.BaseLearningRate;
                foreach (var c in callbacks) c.OnBatchBegin(context);
                var rows = order.AsSpan(b * options.BatchSize, Math.Min(options.BatchSize, order.Length - b * options.BatchSize));
                var tape = new Tape();
                var output = model.Forward(tape, train.Inputs(rows), training: true, random);
                var lossVariable = LossOf(tape, output, train, rows);
                optimizer.ZeroGrad();
                tape.Backward(lossVariable);
                double loss = lossVariable.Value.Data[0];
                foreach (var c in callbacks) c.OnAfterBackward(context, loss);

                double norm = GradientClipping.GlobalNorm(model.Parameters);
                bool finite = double.IsFinite(loss) && double.IsFinite(norm);
                if (finite)
                {
                    if (options.Clip > 0) GradientClipping.ClipByGlobalNorm(model.Parameters, options.Clip);
                    optimizer.Step();
                    lossSum += loss * rows.Length;
                    applied += rows.Length;
                    consecutiveBad = 0;
                }
                else
                {
                    skipped++;
                    if (++consecutiveBad >= options.MaxConsecutiveBadSteps)
                    {
                        if (++rollbacks > options.MaxRollbacks)
                            throw new TrainingDivergedException(
                                $"training diverged: non-finite loss or gradients persisted through {options.MaxRollbacks} rollbacks " +
                                $"(each halving the learning rate, now {context.BaseLearningRate:G3}). Lower --lr, set --clip, or check the data for extreme values.");
                        model.Restore(goodWeights);
                        optimizer.ImportState(goodOptimizer);
                        context.BaseLearningRate *= options.RollbackLearningRateFactor;
                        consecutiveBad = 0;
                        context.Log.WriteLine($"numerical guard: {options.MaxConsecutiveBadSteps} non-finite steps in a row; restored the weights of the start of epoch {epoch} and cut the learning rate to {context.BaseLearningRate:G3}");
                    }
                }
                foreach (var c in callbacks) c.OnBatchEnd(context, new BatchRecord(loss, norm, !finite));
            }
            double trainLoss = applied > 0 ? lossSum / applied : double.NaN;
            double validationLoss = validation.Count > 0 ? Loss(model, validation, options.BatchSize) : trainLoss;
            bool improved = validationLoss < bestLoss || (best is null && !double.IsNaN(validationLoss));
            if (improved) (bestLoss, bestEpoch, best) = (validationLoss, epoch, model.Snapshot());
            var record = new EpochRecord(epoch, trainLoss, validationLoss, epochClock.Elapsed.TotalSeconds, optimizer.LearningRate, improved, skipped);
            context.History.Add(record);
            foreach (var c in callbacks) c.OnEpochEnd(context, record);
            if (options.TimeLimitSeconds > 0 && clock.Elapsed.TotalSeconds >= options.TimeLimitSeconds && epoch < options.Epochs)
                context.RequestStop($"time limit of {options.TimeLimitSeconds:G4} s reached");
        }
        stopReason = context.StopReason;
        if (stopReason is not null) context.Log.WriteLine($"stopped after epoch {context.Epoch}: {stopReason}");
        if (best is not null) model.Restore(best);
        foreach (var c in callbacks) c.OnTrainEnd(context);
        return new TrainingHistory(context.History, bestEpoch, bestLoss, stopReason, rollbacks);
    }

    /// <summary>Mean loss over a dataset, without dropout.</summary>
    public static double Loss(SequenceModel model, SequenceDataset data, int batchSize)
    {
        var rows = Enumerable.Range(0, data.Count).ToArray();
        double sum = 0;
        for (int start = 0; start < rows.Length; start += batchSize)
        {
            var batch = rows.AsSpan(start, Math.Min(batchSize, rows.Length - start));
            var tape = Tape.Inference;
            sum += LossOf(tape, model.Forward(tape, data.Inputs(batch), training: false, null), data, batch).Value.Data[0] * batch.Length;
        }
        return sum / data.Count;
    }

    /// <summary>Model outputs [N, O] for every row, in order, without dropout.</summary>
    public static float[] Predict(SequenceModel model, SequenceDataset data, int batchSize = 256)
    {
        int outputs = model.Spec.OutputSize;
        var result = new float[data.Count * outputs];
        var rows = Enumerable.Range(0, data.Count).ToArray();
        for (int start = 0; start < rows.Length; start += batchSize)
        {
            var batch = rows.AsSpan(start, Math.Min(batchSize, rows.Length - start));
            var output = model.Forward(Tape.Inference, data.Inputs(batch), training: false, null);
            output.Value.Data.CopyTo(result.AsSpan(start * outputs));
        }
        return result;
    }

    private static Variable LossOf(Tape tape, Variable output, SequenceDataset data, ReadOnlySpan<int> rows) =>
        data.IsClassification
            ? Losses.Loss.SoftmaxCrossEntropy(tape, output, data.LabelBatch(rows))
            : Losses.Loss.MeanSquaredError(tape, output, data.TargetBatch(rows));

    public static Optimizer CreateOptimizer(string name, IReadOnlyList<Parameter> parameters, double learningRate) =>
        name.Trim().ToLowerInvariant() switch
        {
            "sgd" => new Sgd(parameters, learningRate, momentum: 0.9),
            "adam" => new Adam(parameters, learningRate),
            "adamw" => new AdamW(parameters, learningRate),
            "rmsprop" => new RmsProp(parameters, learningRate),
            "nadam" => new Nadam(parameters, learningRate),
            _ => throw new InvalidInputException($"--optimizer: expected one of sgd, adam, adamw, rmsprop, nadam; found '{name}'."),
        };
}
