using System.Diagnostics;
using Recur.Autograd;
using Recur.Losses;
using Recur.Models;
using Recur.Optimizers;
using Recur.Randomness;

namespace Recur.Training;

/// <summary>One epoch's record: mean training loss, validation loss, wall time, learning rate.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double ValidationLoss, double Seconds, double LearningRate, bool Best);

/// <summary>Receives progress as training runs (the CLI prints it to standard error).</summary>
public interface ITrainingObserver
{
    void EpochEnded(EpochRecord record, int epochs);
}

/// <summary>What <see cref="Trainer.Fit"/> did: every epoch, the best one, and whether the time limit stopped it.</summary>
public sealed record TrainingHistory(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, double BestValidationLoss, bool StoppedByTimeLimit);

/// <summary>
/// The fit loop: seeded shuffled mini-batches, gradient clipping, validation after every epoch, and the weights of
/// the best validation epoch restored at the end. Same seed and thread count → same bits.
/// </summary>
public static class Trainer
{
    public static TrainingHistory Fit(SequenceModel model, SequenceDataset train, SequenceDataset validation,
        TrainingOptions options, ITrainingObserver? observer = null)
    {
        if (train.Count == 0) throw new InvalidInputException("The training part is empty: there is nothing to learn from.");
        var random = new RecurRandom(options.Seed);
        var optimizer = CreateOptimizer(options.Optimizer, model.Parameters, options.LearningRate);
        var order = Enumerable.Range(0, train.Count).ToArray();
        var clock = Stopwatch.StartNew();
        var records = new List<EpochRecord>();
        float[][]? best = null;
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0;
        bool timedOut = false;

        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            random.Shuffle<int>(order);
            double lossSum = 0;
            for (int start = 0; start < order.Length; start += options.BatchSize)
            {
                var rows = order.AsSpan(start, Math.Min(options.BatchSize, order.Length - start));
                var tape = new Tape();
                var output = model.Forward(tape, train.Inputs(rows), training: true, random);
                var loss = LossOf(tape, output, train, rows);
                optimizer.ZeroGrad();
                tape.Backward(loss);
                if (options.Clip > 0) GradientClipping.ClipByGlobalNorm(model.Parameters, options.Clip);
                optimizer.Step();
                lossSum += loss.Value.Data[0] * rows.Length;
            }
            double validationLoss = validation.Count > 0 ? Loss(model, validation, options.BatchSize) : lossSum / train.Count;
            bool improved = validationLoss < bestLoss || best is null;
            if (improved)
            {
                (bestLoss, bestEpoch, best) = (validationLoss, epoch, model.Snapshot());
            }
            var record = new EpochRecord(epoch, lossSum / train.Count, validationLoss, epochClock.Elapsed.TotalSeconds, optimizer.LearningRate, improved);
            records.Add(record);
            observer?.EpochEnded(record, options.Epochs);
            if (options.TimeLimitSeconds > 0 && clock.Elapsed.TotalSeconds >= options.TimeLimitSeconds && epoch < options.Epochs)
            {
                timedOut = true;
                break;
            }
        }
        model.Restore(best!);
        return new TrainingHistory(records, bestEpoch, bestLoss, timedOut);
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
