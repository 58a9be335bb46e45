using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Training;

namespace Recur.Tests.Training;

/// <summary>Padded batches in the model, the losses and the batch plan.</summary>
public class VariableLengthTests
{
    private static readonly int[] Lengths = [7, 2, 5, 1, 9, 3, 9, 4, 6, 2, 8, 5];

    /// <summary>Token sequences of the lengths above, right-padded to 9, with a class per sequence and a tag per step.</summary>
    private static (SequenceDataset perSequence, SequenceDataset perStep) Data()
    {
        var random = new RecurRandom(3);
        int N = Lengths.Length, T = Lengths.Max();
        var tokens = new int[N * T];
        var stepLabels = new int[N * T];
        for (int n = 0; n < N; n++)
            for (int t = 0; t < Lengths[n]; t++) (tokens[n * T + t], stepLabels[n * T + t]) = (2 + random.NextInt(6), random.NextInt(3));
        var labels = Enumerable.Range(0, N).Select(n => n % 3).ToArray();
        return (SequenceDataset.TokenClassification(tokens, N, T, labels, Lengths),
            SequenceDataset.PerStep(null, tokens, N, T, 0, stepLabels, Lengths));
    }

    private static SequenceModel Model(bool perStep, CellKind cell) =>
        new(new SequenceModelSpec { Cell = cell, VocabularySize = 8, EmbeddingSize = 5, HiddenSize = 6, Layers = 2, OutputSize = 3, PerStep = perStep }, new RecurRandom(9));

    [Theory]
    [InlineData(CellKind.Lstm)]
    [InlineData(CellKind.Gru)]
    public void PaddedBatchLossAndGradientsEqualTheSequencesOneByOne(CellKind cell)
    {
        var (perSequence, perStep) = Data();
        foreach (var (data, perStepModel) in new[] { (perSequence, false), (perStep, true) })
        {
            var model = Model(perStepModel, cell);
            var all = Enumerable.Range(0, data.Count).ToArray();
            // One padded batch: the mean loss over sequences (or real steps).
            var (batchLoss, batchGrads) = LossAndGradients(model, data, all);
            // Each sequence alone (no padding at all), weighted as the batch mean weighs it.
            double loss = 0;
            var grads = model.Parameters.Select(p => new double[p.Value.Length]).ToArray();
            double total = perStepModel ? Lengths.Sum() : Lengths.Length;
            foreach (int n in all)
            {
                var (l, g) = LossAndGradients(model, data, [n]);
                double weight = (perStepModel ? Lengths[n] : 1) / total;
                loss += weight * l;
                for (int p = 0; p < g.Length; p++)
                    for (int i = 0; i < g[p].Length; i++) grads[p][i] += weight * g[p][i];
            }
            Assert.Equal(loss, batchLoss, 5);
            for (int p = 0; p < grads.Length; p++)
                Assert.True(RelativeError(batchGrads[p], grads[p]) < 1e-4, $"{model.Parameters[p].Name}: {RelativeError(batchGrads[p], grads[p]):E2}");
        }
    }

    private static (double Loss, double[][] Grads) LossAndGradients(SequenceModel model, SequenceDataset data, int[] rows)
    {
        foreach (var p in model.Parameters) p.ZeroGrad();
        var tape = new Tape();
        var inputs = data.Inputs(rows);
        var output = model.Forward(tape, inputs, training: false, null);
        Variable loss;
        if (data.IsPerStep)
        {
            var (labels, mask) = data.StepLabelBatch(rows, inputs);
            loss = Recur.Losses.Loss.SoftmaxCrossEntropy(tape, output, labels, mask);
        }
        else loss = Recur.Losses.Loss.SoftmaxCrossEntropy(tape, output, data.LabelBatch(rows));
        tape.Backward(loss);
        return (loss.Value.Data[0], model.Parameters.Select(p => p.Grad.Data.Select(v => (double)v).ToArray()).ToArray());
    }

    private static double RelativeError(double[] a, double[] b)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++) { diff += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]; }
        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-30);
    }

    [Fact]
    public void InputsArePaddedOnlyToTheLongestOfTheBatch()
    {
        var (data, _) = Data();
        var batch = data.Inputs([1, 3, 9]);
        Assert.Equal(2, batch.Steps);
        Assert.Equal([2, 1, 2], batch.Lengths!);
        Assert.Equal(0, batch.Tokens![1 * 2 + 1]); // the 1-step sequence's padding
    }

    [Fact]
    public void BatchPlanCoversEveryRowOnceRespectsBothCapsAndBucketsToLessPadding()
    {
        var random = new RecurRandom(5);
        int N = 500, T = 60;
        var lengths = Enumerable.Range(0, N).Select(_ => 1 + random.NextInt(T)).ToArray();
        var data = SequenceDataset.TokenClassification(new int[N * T], N, T, new int[N], lengths);
        TrainingOptions Options(bool bucket, int cap = 0) => new() { BatchSize = 16, BucketByLength = bucket, MaxTokensPerBatch = cap };

        var plain = Enumerable.Range(0, N).ToArray();
        var (plainStarts, plainPadding) = BatchPlan.Build(data, plain, Options(bucket: false), new RecurRandom(1));
        Assert.Equal((N + 15) / 16 + 1, plainStarts.Length);
        Assert.Equal(Enumerable.Range(0, N), plain); // unbucketed: the order is left alone

        var order = Enumerable.Range(0, N).ToArray();
        var (starts, padding) = BatchPlan.Build(data, order, Options(bucket: true, cap: 400), new RecurRandom(1));
        Assert.Equal(Enumerable.Range(0, N), order.Order()); // a permutation: every row once
        Assert.Equal(0, starts[0]);
        Assert.Equal(N, starts[^1]);
        for (int b = 0; b + 1 < starts.Length; b++)
        {
            var rows = order[starts[b]..starts[b + 1]];
            Assert.InRange(rows.Length, 1, 16);
            Assert.True(rows.Length == 1 || rows.Length * rows.Max(r => lengths[r]) <= 400, $"batch {b} holds {rows.Length} × {rows.Max(r => lengths[r])} steps");
        }
        Assert.True(padding < plainPadding / 3, $"bucketed padding {padding:P1} vs {plainPadding:P1}");
        // The padding share is what the batches really hold.
        long padded = 0, real = 0;
        for (int b = 0; b + 1 < starts.Length; b++)
        {
            var rows = order[starts[b]..starts[b + 1]];
            padded += (long)rows.Length * rows.Max(r => lengths[r]);
            real += rows.Sum(r => lengths[r]);
        }
        Assert.Equal(1 - (double)real / padded, padding, 12);

        // Same seed, same plan.
        var again = Enumerable.Range(0, N).ToArray();
        Assert.Equal(starts, BatchPlan.Build(data, again, Options(bucket: true, cap: 400), new RecurRandom(1)).Starts);
        Assert.Equal(order, again);
    }
}
