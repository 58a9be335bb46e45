using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// The encoder–decoder forecaster: its float forward and tape gradients against an independent double reference and
/// that reference's double finite differences (a fixed teacher-forcing / scheduled-sampling pattern fixes which value
/// each step reads), inference ignoring the targets, scheduled sampling at probability 1 equal to inference.
/// </summary>
public class AttentionDecoderTests
{
    private const int B = 3, T = 5, Horizon = 4;
    private static readonly int[] Lengths = [5, 3, 4];

    private static (SequenceModel Model, SequenceBatch Batch) Setup(CellKind cell, AttentionKind kind, ulong seed)
    {
        var spec = new SequenceModelSpec { Cell = cell, InputSize = 2, HiddenSize = 5, OutputSize = Horizon, DecoderAttention = kind };
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var rng = new RecurRandom(seed + 1);
        var values = new Tensor(B, T, 2);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < Lengths[b] * 2; t++) values.Data[b * T * 2 + t] = (float)rng.Uniform(-1, 1);
        var targets = new Tensor(B, Horizon);
        for (int i = 0; i < targets.Length; i++) targets.Data[i] = (float)rng.Uniform(-1, 1);
        return (model, new SequenceBatch(B, T, values, null) { Lengths = Lengths, DecoderTargets = targets });
    }

    /// <summary>The loss whose gradient is checked: Σᵢ wᵢ·outputᵢ with fixed, unequal weights.</summary>
    private static double Weight(int i) => 0.3 + (i % 5) * 0.4;

    /// <summary>A fixed scheduled-sampling pattern: every third step is fed the model's own prediction.</summary>
    private static bool[] TeacherPattern() => Enumerable.Range(0, B * Horizon).Select(i => i % 3 != 1).ToArray();

    [Theory]
    [InlineData(CellKind.Lstm, AttentionKind.Dot)]
    [InlineData(CellKind.Gru, AttentionKind.Additive)]
    public void TheComposedDecoderMatchesADoubleReferenceAndItsFiniteDifferences(CellKind cell, AttentionKind kind)
    {
        var (model, batch) = Setup(cell, kind, 41);
        var teacher = TeacherPattern();
        batch = batch with { DecoderTeacherChoices = teacher };
        Assert.Contains(model.Parameters, p => p.Name.StartsWith("decoder_attention.", StringComparison.Ordinal));
        var tape = new Tape();
        var output = model.Forward(tape, batch, training: true, new RecurRandom(1));
        Assert.Equal([B, Horizon], output.Value.Shape);

        var reference = new AttentionDecoderReference(model);
        var values = batch.Values!.Data;
        var x = Enumerable.Range(0, B).Select(b => Enumerable.Range(0, T)
            .Select(t => new[] { (double)values[(b * T + t) * 2], values[(b * T + t) * 2 + 1] }).ToArray()).ToArray();
        var targets = batch.DecoderTargets!.Data.Select(v => (double)v).ToArray();
        var (expected, fed) = reference.Forecast(x, Lengths, targets, teacher, Horizon);
        // Float32 forward of ~10 chained steps against double: a few ulps (6e-8) per operation; measured ~1e-7.
        double forwardError = GradientCheck.RelativeError(output.Value.Data, expected);
        Assert.True(forwardError < 1e-6, $"forward: relative error {forwardError:E2}");

        var seed = new Tensor(output.Value.Shape);
        for (int i = 0; i < seed.Length; i++) seed.Data[i] = (float)Weight(i);
        tape.Backward([(output, seed)]);
        // The predictions fed back (pattern false) are constants, as in the model: no gradient flows through them.
        double Loss()
        {
            var (y, _) = reference.Forecast(x, Lengths, targets, teacher, Horizon, fed);
            return y.Select((v, i) => v * Weight(i)).Sum();
        }
        var report = new List<string>();
        double worst = 0;
        foreach (var p in model.Parameters)
        {
            var numeric = GradientCheck.Numeric(Loss, reference.Parameters[p.Name]);
            double error = GradientCheck.RelativeError(p.Grad.Data, numeric);
            worst = Math.Max(worst, error);
            report.Add($"{p.Name}: relative error {error:E2}, |g| {Math.Sqrt(numeric.Sum(g => g * g)):E2}");
        }
        // Double central differences at h = 1e-6 are exact to ~1e-9 here, so what remains is the tape's float32
        // rounding through ~10 chained steps: measured 5e-8 … 2e-7 for most tensors and up to 4e-6 for the
        // attention's state projection, whose gradient (|g| ~ 3e-4) is a difference of much larger terms. 3e-5
        // leaves room for that rounding and nothing else: a wrong or missing term shows as O(1e-2) or more.
        Assert.True(worst < 3e-5, string.Join("\n", report));
    }

    [Theory]
    [InlineData(AttentionKind.Dot)]
    [InlineData(AttentionKind.Additive)]
    public void InferenceIgnoresTargetsAndFullSamplingEqualsInference(AttentionKind kind)
    {
        var (model, batch) = Setup(CellKind.Lstm, kind, 42);
        var inference = model.Forward(Tape.Inference, batch, training: false, null).Value.Data;
        var noTargets = model.Forward(Tape.Inference, batch with { DecoderTargets = null }, training: false, null).Value.Data;
        Assert.Equal(noTargets, inference);
        var teacher = model.Forward(Tape.Inference, batch, training: true, new RecurRandom(3)).Value.Data;
        Assert.NotEqual(inference, teacher);
        // The first step reads the window's last value either way.
        for (int b = 0; b < B; b++) Assert.Equal(inference[b * Horizon], teacher[b * Horizon], 6);
        var sampled = model.Forward(Tape.Inference, batch with { SamplingProbability = 1 }, training: true, new RecurRandom(3)).Value.Data;
        Assert.Equal(inference, sampled);
    }

    [Fact]
    public void PaddedBatchEqualsEachSequenceAlone()
    {
        var (model, batch) = Setup(CellKind.Gru, AttentionKind.Dot, 43);
        var together = model.Forward(Tape.Inference, batch, training: false, null).Value.Data;
        for (int b = 0; b < B; b++)
        {
            var values = new Tensor(1, Lengths[b], 2);
            batch.Values!.Data.AsSpan(b * T * 2, Lengths[b] * 2).CopyTo(values.Data);
            var alone = model.Forward(Tape.Inference, new SequenceBatch(1, Lengths[b], values, null), training: false, null).Value.Data;
            for (int s = 0; s < Horizon; s++) Assert.Equal(together[b * Horizon + s], alone[s], 5);
        }
    }

    [Fact]
    public void TheSamplingScheduleRisesLinearly()
    {
        var options = new Recur.Training.TrainingOptions { Epochs = 5, TeacherForcing = 0.8 };
        Assert.Equal(0.2, options.SamplingProbability(1), 12);
        Assert.Equal(0.6, options.SamplingProbability(3), 12);
        Assert.Equal(1.0, options.SamplingProbability(5), 12);
    }
}
