using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// The encoder–decoder forecaster: gradients through the decoder against finite differences (teacher forcing fixes
/// which value each step reads), inference ignoring the targets, scheduled sampling at probability 1 equal to inference.
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

    private static double Loss(Variable output)
    {
        double s = 0;
        for (int i = 0; i < output.Value.Length; i++) s += output.Value.Data[i] * (0.3 + (i % 5) * 0.4);
        return s;
    }

    [Theory]
    [InlineData(CellKind.Lstm, AttentionKind.Dot)]
    [InlineData(CellKind.Gru, AttentionKind.Additive)]
    public void GradientsThroughTheDecoderMatchFiniteDifferences(CellKind cell, AttentionKind kind)
    {
        var (model, batch) = Setup(cell, kind, 41);
        Assert.Contains(model.Parameters, p => p.Name.StartsWith("decoder_attention.", StringComparison.Ordinal));
        Assert.Contains(model.Parameters, p => p.Name == "decoder.weight_hh_l0");
        // Teacher forcing throughout (sampling probability 0): every step reads the true previous value.
        var tape = new Tape();
        var output = model.Forward(tape, batch, training: true, new RecurRandom(1));
        Assert.Equal([B, Horizon], output.Value.Shape);
        var seed = new Tensor(output.Value.Shape);
        for (int i = 0; i < seed.Length; i++) seed.Data[i] = (float)(0.3 + (i % 5) * 0.4);
        tape.Backward([(output, seed)]);
        // Float32 central differences (the decoder composes float tape operations; its attention kernels are checked
        // in double in AttentionGradientTests), so the tolerance is float's.
        const float h = 2e-3f;
        var report = new List<string>();
        bool failed = false;
        foreach (var p in model.Parameters)
        {
            var numeric = new double[p.Value.Length];
            for (int i = 0; i < numeric.Length; i++)
            {
                float saved = p.Value.Data[i];
                p.Value.Data[i] = saved + h;
                double plus = Loss(model.Forward(Tape.Inference, batch, training: true, new RecurRandom(1)));
                p.Value.Data[i] = saved - h;
                double minus = Loss(model.Forward(Tape.Inference, batch, training: true, new RecurRandom(1)));
                p.Value.Data[i] = saved;
                numeric[i] = (plus - minus) / (2 * h);
            }
            double error = GradientCheck.RelativeError(p.Grad.Data, numeric), norm = Math.Sqrt(numeric.Sum(x => x * x));
            report.Add($"{p.Name}: relative error {error:E2}, |g| {norm:E2}");
            // Relative error 1e-2, or for the attention's tiny gradients (|g| ~ 1e-3) float32 differencing's noise
            // floor: ‖Δ‖ ≤ 2e-4 absolute (the loss is ~10, float's rounding ~1e-6 of it, divided by 2h).
            if (error * norm > Math.Max(1e-2 * norm, 2e-4)) failed = true;
        }
        Assert.False(failed, string.Join("\n", report));
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
