using Recur.Layers.Recurrent;

namespace Recur.Tests.Layers;

/// <summary>
/// Right-padded sequences with per-sequence lengths in the recurrent kernels: the double reference against
/// finite differences, float32 against double, and the padding semantics of PyTorch's pack_padded_sequence
/// (zero outputs and carried states at padded steps).
/// </summary>
public class RecurrentMaskTests
{
    // T = 6: a full sequence, a single step, an empty one and one ending two steps early.
    private static readonly int[] MixedLengths = [6, 1, 0, 4];

    [Fact] public void LstmMaskedGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>();
    [Fact] public void GruMaskedGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>();
    [Fact] public void RnnMaskedGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>();

    [Fact] public void LstmMaskedFloatMatchesDoubleReference() => CheckFloatAgainstDouble<LstmCell>();
    [Fact] public void GruMaskedFloatMatchesDoubleReference() => CheckFloatAgainstDouble<GruCell>();
    [Fact] public void RnnMaskedFloatMatchesDoubleReference() => CheckFloatAgainstDouble<RnnCell>();

    [Fact] public void LstmPaddedStepsCarryStateAndOutputZero() => CheckPaddedSteps<LstmCell>();
    [Fact] public void GruPaddedStepsCarryStateAndOutputZero() => CheckPaddedSteps<GruCell>();
    [Fact] public void RnnPaddedStepsCarryStateAndOutputZero() => CheckPaddedSteps<RnnCell>();

    private static void CheckFiniteDifferences<TCell>() where TCell : IRecurrentCell
    {
        var h = RecurrentHarness<double, TCell>.Random(steps: 6, batch: 4, input: 3, hidden: 3, layers: 2, seed: 21);
        h.Lengths = MixedLengths;
        var analytic = h.Backward();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            var numeric = GradientCheck.Numeric(h.Loss, value);
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} masked d/d{name}: relative error {error:E2} against finite differences");
            Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"{TCell.DisplayName} masked d/d{name} is all zero, so the check proves nothing");
        }
    }

    private static void CheckFloatAgainstDouble<TCell>() where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(steps: 9, batch: 5, input: 7, hidden: 19, layers: 2, seed: 22);
        reference.Lengths = [9, 3, 0, 7, 1];
        var production = reference.Convert<float>();

        var rd = reference.Forward();
        var rf = production.Forward();
        RecurrentGradientTests.AssertClose("output", rf.Output.ToArray(), rd.Output.ToArray(), 2e-6);
        RecurrentGradientTests.AssertClose("h_n", rf.FinalHidden, rd.FinalHidden, 2e-6);
        if (TCell.HasCellState) RecurrentGradientTests.AssertClose("c_n", rf.FinalCell, rd.FinalCell, 2e-6);

        var gd = reference.Named(reference.Backward()).ToList();
        var gf = production.Named(production.Backward()).ToList();
        for (int i = 0; i < gd.Count; i++) RecurrentGradientTests.AssertClose("grad " + gd[i].name, gf[i].grad, gd[i].grad, 1e-5);
    }

    /// <summary>
    /// Every layer's output is exactly zero at padded steps, its states there equal the state at the last real
    /// step (h0/c0 for a length of 0), and the real steps equal those of the same sequences run unmasked.
    /// </summary>
    private static void CheckPaddedSteps<TCell>() where TCell : IRecurrentCell
    {
        const int T = 6, B = 4, H = 3;
        var h = RecurrentHarness<double, TCell>.Random(steps: T, batch: B, input: 3, hidden: H, layers: 2, seed: 23);
        var unmasked = h.Forward();
        h.Lengths = MixedLengths;
        var masked = h.Forward();
        for (int l = 0; l < 2; l++)
        {
            var cache = masked.Layers[l];
            var output = cache.Output.Span;
            var reference = unmasked.Layers[l];
            for (int b = 0; b < B; b++)
            {
                int length = MixedLengths[b];
                for (int t = 0; t < T; t++)
                {
                    var row = output.Slice((t * B + b) * H, H);
                    if (t >= length) Assert.All(row.ToArray(), v => Assert.Equal(0.0, v));
                    // Real steps precede the padding, so every layer's inputs and states there are the unmasked ones.
                    else AssertNear(reference.Output.Span.Slice((t * B + b) * H, H), row, $"layer {l} output t={t} b={b}");
                }
                // Final state = state after the last real step (or the initial state).
                var lastH = length == 0 ? h.H0.AsSpan((l * B + b) * H, H) : reference.HiddenAt(length, b);
                Assert.Equal(lastH.ToArray(), masked.FinalHidden.AsSpan((l * B + b) * H, H).ToArray());
                if (TCell.HasCellState)
                {
                    var lastC = length == 0 ? h.C0.AsSpan((l * B + b) * H, H) : reference.CellAt(length, b);
                    Assert.Equal(lastC.ToArray(), masked.FinalCell.AsSpan((l * B + b) * H, H).ToArray());
                }
            }
        }
    }

    private static void AssertNear(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        double error = GradientCheck.RelativeError(actual, expected);
        Assert.True(error < 1e-12, $"{what}: relative error {error:E2}");
    }

    [Fact]
    public void LengthsOfTEveryWhereMatchNoLengthsBitForBit()
    {
        var h = RecurrentHarness<float, LstmCell>.Random(steps: 5, batch: 3, input: 4, hidden: 6, layers: 2, seed: 24);
        var plain = h.Forward();
        var plainGrads = h.Named(h.Backward()).Select(g => g.grad).ToList();
        h.Lengths = [5, 5, 5];
        var full = h.Forward();
        var fullGrads = h.Named(h.Backward()).Select(g => g.grad).ToList();
        Assert.Equal(plain.Output.ToArray(), full.Output.ToArray());
        Assert.Equal(plain.FinalHidden, full.FinalHidden);
        Assert.Equal(plain.FinalCell, full.FinalCell);
        for (int i = 0; i < plainGrads.Count; i++) Assert.Equal(plainGrads[i], fullGrads[i]);
    }

    [Theory]
    [InlineData(new[] { 5, 2 }, "one length per sequence (B = 3)")]
    [InlineData(new[] { 5, 6, 1 }, "lengths[1] = 6 is outside 0 … 5")]
    [InlineData(new[] { 5, 2, -1 }, "lengths[2] = -1 is outside 0 … 5")]
    public void BadLengthsAreRejected(int[] lengths, string message)
    {
        var h = RecurrentHarness<float, GruCell>.Random(steps: 5, batch: 3, input: 2, hidden: 2, layers: 1, seed: 25);
        h.Lengths = lengths;
        var ex = Assert.Throws<ArgumentException>(() => h.Forward());
        Assert.Contains(message, ex.Message);
        Assert.Equal("lengths", ex.ParamName);
    }

    [Fact]
    public void SaturatedFractionCountsOnlyRealSteps()
    {
        var h = RecurrentHarness<double, LstmCell>.Random(steps: 6, batch: 2, input: 3, hidden: 4, layers: 1, seed: 26);
        // Large weights so that a good share of the gates saturate.
        foreach (var w in h.Weights)
            for (int i = 0; i < w.InputWeights.Length; i++) w.InputWeights[i] *= 6;
        // Sequence 1 is empty, so only sequence 0's steps count: the same fraction as running it alone.
        h.Lengths = [6, 0];
        double masked = RecurrentLayerKernel<double, LstmCell>.SaturatedFraction(h.Forward().Layers[0]);
        var alone = new RecurrentHarness<double, LstmCell>
        {
            Steps = 6, Batch = 1, Input = 3, Hidden = 4, Layers = 1, Weights = h.Weights,
            X = Enumerable.Range(0, 6).SelectMany(t => h.X.Skip(t * 2 * 3).Take(3)).ToArray(),
            H0 = h.H0[..4], C0 = h.C0[..4],
        };
        double expected = RecurrentLayerKernel<double, LstmCell>.SaturatedFraction(alone.Forward().Layers[0]);
        Assert.InRange(expected, 0.05, 0.95);
        Assert.Equal(expected, masked);
    }
}
