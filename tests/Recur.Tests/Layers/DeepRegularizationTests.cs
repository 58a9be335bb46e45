using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// Layer norm, input / recurrent dropout and zoneout on the deep path (<see cref="DeepRecurrentKernel{T, TCell}"/>:
/// bidirectional, residual, dropout between layers): the double kernel against central finite differences with fixed
/// masks per layer and direction and right-padded sequences; the module drawing one recurrent mask per layer and
/// direction, in a fixed order, and the kernel reading it at every step; the workspace meter balancing.
/// </summary>
public class DeepRegularizationTests
{
    private static readonly int[] Lengths = [6, 1, 0, 4];

    [Fact] public void BidirectionalLayerNormRecurrentDropoutResidualLstmMatchesFiniteDifferences() => CheckFiniteDifferences<LstmCell>(recurrentDropout: 0.4);
    [Fact] public void BidirectionalLayerNormRecurrentDropoutResidualGruMatchesFiniteDifferences() => CheckFiniteDifferences<GruCell>(recurrentDropout: 0.4);
    [Fact] public void BidirectionalLayerNormRecurrentDropoutResidualRnnMatchesFiniteDifferences() => CheckFiniteDifferences<RnnCell>(recurrentDropout: 0.4, hidden: 6);

    [Fact]
    public void BidirectionalEverythingTogetherLstmMatchesFiniteDifferences() =>
        CheckFiniteDifferences<LstmCell>(inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25, layerDropout: 0.3);

    [Fact]
    public void BidirectionalEverythingTogetherGruMatchesFiniteDifferences() =>
        CheckFiniteDifferences<GruCell>(inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25, layerDropout: 0.3);

    /// <summary>
    /// Inference zoneout (its expectation) on the reverse direction too. (Seed 32: with seed 31 one h0 row is small
    /// enough for the layer norm of h0·W_hhᵀ, which is scale invariant, to curve sharply; the central difference is
    /// then off by O(step²) — 3e-7 at step 1e-6, 8e-9 at 1e-7 — while the analytic gradient is right.)
    /// </summary>
    [Fact] public void BidirectionalExpectedZoneoutLstmMatchesFiniteDifferences() => CheckFiniteDifferences<LstmCell>(zoneout: 0.3, zoneoutMasks: false, seed: 32);

    /// <summary>Fixed masks for every layer and direction (index l·D + d), drawn from one seeded generator.</summary>
    private static List<RecurrentLayerOptions<double>?> Masks<TCell>(DeepRecurrentHarness<double, TCell> h, double inputDropout,
        double recurrentDropout, double zoneout, bool zoneoutMasks) where TCell : IRecurrentCell
    {
        var random = new RecurRandom(5);
        return h.Weights.Select(w =>
        {
            var drawn = RecurrentLayerOptions.Draw<double>(random, h.Steps, h.Batch, w.InputSize, h.Hidden, TCell.HasCellState,
                inputDropout, recurrentDropout, zoneoutMasks ? zoneout : 0);
            return (RecurrentLayerOptions<double>?)(zoneoutMasks ? drawn : new RecurrentLayerOptions<double>
            {
                InputMask = drawn.InputMask, RecurrentMask = drawn.RecurrentMask, Zoneout = zoneout,
            });
        }).ToList();
    }

    private static void CheckFiniteDifferences<TCell>(double inputDropout = 0, double recurrentDropout = 0, double zoneout = 0,
        double layerDropout = 0, bool zoneoutMasks = true, int hidden = 3, ulong seed = 31) where TCell : IRecurrentCell
    {
        var h = DeepRecurrentHarness<double, TCell>.Random(steps: 6, batch: 4, input: 4, hidden: hidden, layers: 2, seed: seed,
            directions: 2, residual: true, lengths: Lengths, dropout: layerDropout, layerNorm: true);
        h.Options = Masks(h, inputDropout, recurrentDropout, zoneout, zoneoutMasks);
        var analytic = h.Backward();
        var names = new List<string>();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            names.Add(name);
            var numeric = GradientCheck.Numeric(h.Loss, value);
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
            Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"{TCell.DisplayName} d/d{name} is all zero, so the check proves nothing");
        }
        // The reverse directions' layer-norm parameters are among those checked.
        Assert.Contains("ln_ih_weight_l1_reverse", names);
        Assert.Contains("ln_hh_bias_l0_reverse", names);
        if (TCell.HasCellState) Assert.Contains("ln_c_weight_l1_reverse", names);
        // Padded steps: no gradient reaches the input there, in either direction.
        for (int b = 0; b < h.Batch; b++)
            for (int t = Lengths[b]; t < h.Steps; t++)
                Assert.All(analytic.dx.AsSpan((t * h.Batch + b) * h.Input, h.Input).ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact] public void BidirectionalLstmModuleUsesOneRecurrentMaskPerLayerAndDirectionAtEveryStep() =>
        CheckModuleMasks(new Lstm("encoder", 4, 5, 2, random: new RecurRandom(3),
            options: new RecurrentStackOptions { Bidirectional = true, Residual = true, Dropout = 0.2 }, layerNorm: true));

    [Fact] public void BidirectionalGruModuleUsesOneRecurrentMaskPerLayerAndDirectionAtEveryStep() =>
        CheckModuleMasks(new Gru("encoder", 4, 5, 2, random: new RecurRandom(3),
            options: new RecurrentStackOptions { Bidirectional = true, Residual = true, Dropout = 0.2 }, layerNorm: true));

    /// <summary>
    /// The module (bidirectional, residual, dropout between layers, layer norm) with recurrent dropout while training:
    /// it draws the between-layer masks and then one [B, H] recurrent mask per layer and direction, l0, l0_reverse,
    /// l1, l1_reverse; the kernel run with exactly those masks reproduces its output, and in every direction's cache
    /// the recurrent product read h_{t−1} ⊙ m with the same m at every step. At inference nothing is drawn.
    /// </summary>
    private static void CheckModuleMasks<TCell>(RecurrentModule<TCell> module) where TCell : IRecurrentCell
    {
        const int B = 3, T = 7, I = 4, H = 5, L = 2, D = 2;
        const double p = 0.5, between = 0.2;
        int[] lengths = [7, 2, 5];
        var plainOutput = module.Forward(Tape.Inference, Input(B, T, I, 8), lengths: lengths).Output.Value.Data;
        module.Regularization = new RecurrentRegularization(RecurrentDropout: p);
        var input = Input(B, T, I, 8);

        // Inference: no mask, the plain stack's output.
        Assert.Equal(plainOutput, module.Forward(Tape.Inference, input, lengths: lengths).Output.Value.Data);
        Assert.Null(module.LastOptions);

        var tape = new Tape();
        var output = module.Forward(tape, input, lengths: lengths, training: new RecurRandom(11)).Output;
        var drawn = module.LastOptions!;
        Assert.Equal(L * D, drawn.Count);
        foreach (var o in drawn)
        {
            Assert.Equal(B * H, o!.RecurrentMask!.Length);
            Assert.Null(o.InputMask);
            Assert.Null(o.ZoneoutHidden);
            Assert.Contains(0f, o.RecurrentMask);
            Assert.Contains(2f, o.RecurrentMask); // 1/(1 − 0.5)
        }
        Assert.NotEqual(drawn[0]!.RecurrentMask, drawn[1]!.RecurrentMask); // the reverse direction has its own

        // The fixed order: between-layer dropout masks, then l0, l0_reverse, l1, l1_reverse.
        var replay = new RecurRandom(11);
        var betweenMasks = new List<float[]>();
        for (int l = 0; l < L - 1; l++)
        {
            var m = new float[T * B * D * H];
            DropoutKernel<float>.Mask(between, replay, m);
            betweenMasks.Add(m);
        }
        for (int k = 0; k < L * D; k++)
        {
            var expected = RecurrentLayerOptions.Draw<float>(replay, T, B, k < D ? I : D * H, H, TCell.HasCellState, 0, p, 0);
            Assert.Equal(expected.RecurrentMask, drawn[k]!.RecurrentMask);
        }

        // The kernel with the module's own weights and exactly these masks gives the module's output.
        var byName = module.Parameters.ToDictionary(q => q.Name, q => q.Value.Data);
        var weights = new List<RecurrentLayerWeights<float>>();
        for (int k = 0; k < L * D; k++)
        {
            string suffix = $"_l{k / D}" + (k % D == 1 ? "_reverse" : "");
            float[] P(string name) => byName[$"encoder.{name}{suffix}"];
            weights.Add(new RecurrentLayerWeights<float>(TCell.GateCount, k < D ? I : D * H, H, P("weight_ih"), P("weight_hh"), P("bias_ih"), P("bias_hh"))
            {
                LayerNorm = new RecurrentLayerNorm<float>(P("ln_ih_weight"), P("ln_ih_bias"), P("ln_hh_weight"), P("ln_hh_bias"),
                    TCell.HasCellState ? P("ln_c_weight") : [], TCell.HasCellState ? P("ln_c_bias") : []),
            });
        }
        var x = Layout.SwapLeadingAxes<float>(input.Value.Data, B, T, I);
        var result = DeepRecurrentKernel<float, TCell>.Forward(weights, D, residual: true, betweenMasks, x, T, B, [], [], lengths, drawn);
        Assert.Equal(output.Value.Data, Layout.SwapLeadingAxes<float>(result.Output, T, B, D * H));

        int BH = B * H;
        for (int k = 0; k < L * D; k++)
        {
            var cache = result.Caches[k];
            var mask = drawn[k]!.RecurrentMask!;
            var read = cache.RecurrentInput.Span;
            int nonZero = 0;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < BH; i++)
                {
                    float state = cache.Hs[t * BH + i];
                    if (t > 0 && state != 0) nonZero++;
                    Assert.Equal(state * mask[i], read[t * BH + i]);
                    if (state != 0) Assert.Equal(mask[i] == 0, read[t * BH + i] == 0);
                }
            Assert.True(nonZero > (T - 1) * BH / 2, "too few non-zero states for the check to mean anything");
        }

        // Every parameter, the reverse directions' layer norm included, gets a gradient.
        tape.Backward([(output, new Tensor(Enumerable.Range(0, output.Value.Length).Select(i => (float)Math.Sin(i)).ToArray(), output.Value.Shape))]);
        foreach (var q in module.Parameters) Assert.True(q.HasGrad && q.Grad.Data.Any(v => v != 0), $"{q.Name} got no gradient");
        Assert.Contains(module.Parameters, q => q.Name == "encoder.ln_hh_weight_l1_reverse");
    }

    [Fact]
    public void LayerNormParametersFollowEachLayerDirectionsFourTensors()
    {
        var lstm = new Lstm("encoder", 3, 4, 2, options: new RecurrentStackOptions { Bidirectional = true }, layerNorm: true);
        string[] perDirection = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias", "ln_c_weight", "ln_c_bias"];
        var expected = new List<string>();
        foreach (var l in new[] { 0, 1 })
            foreach (var suffix in new[] { $"_l{l}", $"_l{l}_reverse" })
                expected.AddRange(perDirection.Select(n => $"encoder.{n}{suffix}"));
        Assert.Equal(expected, lstm.Parameters.Select(q => q.Name));
        Assert.Equal([16, 8], lstm.Parameters.Single(q => q.Name == "encoder.weight_ih_l1_reverse").Value.Shape);
        Assert.Contains("layer norm", lstm.ToString());
        Assert.Contains("bidirectional", lstm.ToString());
    }

    /// <summary>Every buffer the regularised, layer-normalised kernels allocate is counted, and the backward passes release all they take.</summary>
    [Fact]
    public void WorkspaceBalancesWithLayerNormAndEveryMask()
    {
        int T = 6, B = 3, I = 4, H = 5, G = 4;
        var h = DeepRecurrentHarness<float, LstmCell>.Random(steps: T, batch: B, input: I, hidden: H, layers: 2, seed: 7,
            directions: 2, residual: true, lengths: [6, 2, 4], dropout: 0.2, layerNorm: true);
        var random = new RecurRandom(3);
        h.Options = h.Weights.Select(w => (RecurrentLayerOptions<float>?)RecurrentLayerOptions.Draw<float>(random, T, B, w.InputSize, H, true, 0.2, 0.3, 0.25)).ToList();

        // One layer: what the forward pass keeps is exactly the cache's buffers.
        var meter = new WorkspaceMeter();
        var single = h.Options[0]!;
        RecurrentLayerCache<float> cache;
        using (Workspace.Measure(meter)) cache = RecurrentLayerKernel<float, LstmCell>.Forward(h.Weights[0], h.X, T, B, [], [], [6, 2, 4], single);
        long rows = T * B, held = (T + 1) * B * H * 2 + rows * 5 * H // Hs, Cs, Saved
            + rows * H                                                  // the output with padded rows zero
            + rows * I                                                  // the masked input
            + 2 * (rows * G * H + rows) + rows * H + rows               // layer-norm caches of both products and of c
            + rows * H;                                                 // the masked states the recurrent product read
        Assert.Equal(4 * held, meter.Current);
        meter.Reset();
        using (Workspace.Measure(meter))
            RecurrentLayerKernel<float, LstmCell>.Backward(h.Weights[0], cache, new float[T * B * H], [], [], h.Weights[0].ZerosLike(), new float[T * B * I], [], []);
        Assert.Equal(0, meter.Current);
        Assert.True(meter.Peak > 0);

        // The deep stack: its backward pass releases everything it allocates too.
        DeepRecurrentResult<float> result;
        meter.Reset();
        using (Workspace.Measure(meter)) result = h.Forward();
        Assert.True(meter.Current > 0);
        meter.Reset();
        using (Workspace.Measure(meter))
            DeepRecurrentKernel<float, LstmCell>.Backward(h.Weights, result, h.DOutput, h.DhN, h.DcN,
                h.Weights.Select(w => w.ZerosLike()).ToList(), new float[h.X.Length], new float[h.H0.Length], new float[h.C0.Length]);
        Assert.Equal(0, meter.Current);
    }

    private static Variable Input(int batch, int steps, int features, ulong seed)
    {
        var random = new RecurRandom(seed);
        return new Variable(new Tensor(Enumerable.Range(0, batch * steps * features).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), batch, steps, features), requiresGrad: true);
    }
}
