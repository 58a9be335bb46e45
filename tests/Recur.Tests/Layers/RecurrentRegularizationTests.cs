using Recur.Layers.Recurrent;
using Recur.Randomness;

namespace Recur.Tests.Layers;

/// <summary>
/// Recurrent (variational) dropout, input dropout, zoneout and layer-normalised cells inside the fused time loop:
/// the double reference against central finite differences with fixed masks and right-padded sequences, the
/// float32 path against the double reference, and the masks' shape in time.
/// </summary>
public class RecurrentRegularizationTests
{
    private static readonly int[] MixedLengths = [6, 1, 0, 4];

    [Fact] public void LayerNormLstmGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(layerNorm: true);
    [Fact] public void LayerNormGruGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(layerNorm: true);
    [Fact] public void LayerNormRnnGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>(layerNorm: true);

    [Fact] public void RecurrentDropoutLstmGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(recurrentDropout: 0.4);
    [Fact] public void RecurrentDropoutGruGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(recurrentDropout: 0.4);
    [Fact] public void RecurrentDropoutRnnGradientsMatchFiniteDifferences() => CheckFiniteDifferences<RnnCell>(recurrentDropout: 0.4);

    [Fact] public void InputDropoutGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(inputDropout: 0.3);

    [Fact] public void ZoneoutLstmGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(zoneout: 0.3);
    [Fact] public void ZoneoutGruGradientsMatchFiniteDifferences() => CheckFiniteDifferences<GruCell>(zoneout: 0.3);

    /// <summary>Inference zoneout: ζ = z everywhere (the expectation), still differentiable.</summary>
    [Fact] public void ExpectedZoneoutGradientsMatchFiniteDifferences() => CheckFiniteDifferences<LstmCell>(zoneout: 0.3, zoneoutMasks: false);

    [Fact]
    public void EverythingTogetherOnLayerNormLstmMatchesFiniteDifferences() =>
        CheckFiniteDifferences<LstmCell>(layerNorm: true, inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25);

    [Fact]
    public void EverythingTogetherOnLayerNormGruMatchesFiniteDifferences() =>
        CheckFiniteDifferences<GruCell>(layerNorm: true, inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25);

    [Fact] public void LayerNormLstmFloatMatchesDoubleReference() => CheckFloatAgainstDouble<LstmCell>();
    [Fact] public void LayerNormGruFloatMatchesDoubleReference() => CheckFloatAgainstDouble<GruCell>();
    [Fact] public void LayerNormRnnFloatMatchesDoubleReference() => CheckFloatAgainstDouble<RnnCell>();

    /// <summary>Fixed masks for every layer of the harness, drawn from one seeded generator.</summary>
    internal static List<RecurrentLayerOptions<double>?> Masks<TCell>(RecurrentHarness<double, TCell> h, double inputDropout,
        double recurrentDropout, double zoneout, bool zoneoutMasks = true, ulong seed = 5) where TCell : IRecurrentCell
    {
        var random = new RecurRandom(seed);
        return Enumerable.Range(0, h.Layers).Select(l =>
        {
            var drawn = RecurrentLayerOptions.Draw<double>(random, h.Steps, h.Batch, l == 0 ? h.Input : h.Hidden, h.Hidden, TCell.HasCellState,
                inputDropout, recurrentDropout, zoneoutMasks ? zoneout : 0);
            return (RecurrentLayerOptions<double>?)(zoneoutMasks ? drawn : new RecurrentLayerOptions<double>
            {
                InputMask = drawn.InputMask, RecurrentMask = drawn.RecurrentMask, Zoneout = zoneout,
            });
        }).ToList();
    }

    private static void CheckFiniteDifferences<TCell>(bool layerNorm = false, double inputDropout = 0, double recurrentDropout = 0,
        double zoneout = 0, bool zoneoutMasks = true) where TCell : IRecurrentCell
    {
        // Layer norm over a 1-gate RNN's H values needs more than 3 of them to be well conditioned.
        int hidden = TCell.GateCount == 1 && layerNorm ? 6 : 3;
        var h = RecurrentHarness<double, TCell>.Random(steps: 6, batch: 4, input: 4, hidden: hidden, layers: 2, seed: 21, layerNorm: layerNorm);
        h.Lengths = MixedLengths;
        if (inputDropout > 0 || recurrentDropout > 0 || zoneout > 0) h.Options = Masks(h, inputDropout, recurrentDropout, zoneout, zoneoutMasks);
        var analytic = h.Backward();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            var numeric = GradientCheck.Numeric(h.Loss, value);
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
            Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"{TCell.DisplayName} d/d{name} is all zero, so the check proves nothing");
        }
    }

    private static void CheckFloatAgainstDouble<TCell>() where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(steps: 9, batch: 5, input: 7, hidden: 19, layers: 2, seed: 22, layerNorm: true);
        reference.Lengths = [9, 3, 0, 7, 1];
        reference.Options = Masks(reference, 0.2, 0.3, 0.15);
        var production = reference.Convert<float>();

        var rd = reference.Forward();
        var rf = production.Forward();
        RecurrentGradientTests.AssertClose("output", rf.Output.ToArray(), rd.Output.ToArray(), 2e-6);
        RecurrentGradientTests.AssertClose("h_n", rf.FinalHidden, rd.FinalHidden, 2e-6);
        if (TCell.HasCellState) RecurrentGradientTests.AssertClose("c_n", rf.FinalCell, rd.FinalCell, 2e-6);

        var gd = reference.Named(reference.Backward()).ToList();
        var gf = production.Named(production.Backward()).ToList();
        for (int i = 0; i < gd.Count; i++) RecurrentGradientTests.AssertClose("grad " + gd[i].name, gf[i].grad, gd[i].grad, 2e-5);
    }

    [Fact]
    public void RecurrentDropoutMaskIsTheSameAtEveryStep()
    {
        var h = RecurrentHarness<float, LstmCell>.Random(steps: 7, batch: 3, input: 2, hidden: 5, layers: 1, seed: 3);
        var options = RecurrentLayerOptions.Draw<float>(new RecurRandom(9), 7, 3, 2, 5, true, 0, 0.5, 0);
        var mask = options.RecurrentMask!;
        Assert.Contains(0f, mask);
        Assert.Contains(2f, mask); // 1/(1 − 0.5)
        var cache = RecurrentLayerKernel<float, LstmCell>.Forward(h.Weights[0], h.X, 7, 3, h.H0, h.C0, default, options);
        var gemmInput = cache.RecurrentInput.Span;
        int BH = 3 * 5;
        for (int t = 0; t < 7; t++)
            for (int i = 0; i < BH; i++)
            {
                float state = cache.Hs[t * BH + i];
                Assert.True(state != 0, "a state of exactly zero would make the check vacuous");
                // The product reads h_{t−1} ⊙ m with the one mask m: zero exactly where m is, at every step.
                Assert.Equal(state * mask[i], gemmInput[t * BH + i]);
                Assert.Equal(mask[i] == 0, gemmInput[t * BH + i] == 0);
            }
        Assert.Same(options, cache.Options);
    }

    [Fact]
    public void MasksAreReproducibleBySeed()
    {
        RecurrentLayerOptions<float> Draw(ulong seed) => RecurrentLayerOptions.Draw<float>(new RecurRandom(seed), 5, 4, 3, 6, true, 0.2, 0.3, 0.1);
        var a = Draw(17);
        var b = Draw(17);
        var c = Draw(18);
        Assert.Equal(a.InputMask, b.InputMask);
        Assert.Equal(a.RecurrentMask, b.RecurrentMask);
        Assert.Equal(a.ZoneoutHidden, b.ZoneoutHidden);
        Assert.Equal(a.ZoneoutCell, b.ZoneoutCell);
        Assert.NotEqual(a.RecurrentMask, c.RecurrentMask);
        Assert.All(a.ZoneoutHidden!, v => Assert.True(v is 0f or 1f));
    }

    [Fact]
    public void EmptyOptionsAreBitIdenticalToNone()
    {
        var h = RecurrentHarness<float, GruCell>.Random(steps: 8, batch: 4, input: 3, hidden: 6, layers: 2, seed: 4);
        h.Lengths = [8, 2, 5, 0];
        var plain = h.Forward();
        var gradsPlain = h.Named(h.Backward()).Select(g => g.grad.ToArray()).ToList();
        h.Options = [new RecurrentLayerOptions<float>(), new RecurrentLayerOptions<float> { Zoneout = 0 }];
        var withOptions = h.Forward();
        Assert.Equal(plain.Output.ToArray(), withOptions.Output.ToArray());
        Assert.Equal(plain.FinalHidden, withOptions.FinalHidden);
        var gradsOptions = h.Named(h.Backward()).Select(g => g.grad.ToArray()).ToList();
        for (int i = 0; i < gradsPlain.Count; i++) Assert.Equal(gradsPlain[i], gradsOptions[i]);
    }

    [Fact]
    public void ZoneoutKeepsThePreviousStateWhereTheMaskIsOne()
    {
        var h = RecurrentHarness<double, LstmCell>.Random(steps: 5, batch: 2, input: 3, hidden: 4, layers: 1, seed: 8);
        var options = RecurrentLayerOptions.Draw<double>(new RecurRandom(2), 5, 2, 3, 4, true, 0, 0, 0.5);
        var cache = RecurrentLayerKernel<double, LstmCell>.Forward(h.Weights[0], h.X, 5, 2, h.H0, h.C0, default, options);
        int BH = 8, kept = 0;
        for (int i = 0; i < 5 * BH; i++)
        {
            if (options.ZoneoutHidden![i] == 1) { Assert.Equal(cache.Hs[i], cache.Hs[i + BH]); kept++; }
            if (options.ZoneoutCell![i] == 1) Assert.Equal(cache.Cs[i], cache.Cs[i + BH]);
        }
        Assert.InRange(kept, 5, 35);
    }
}
