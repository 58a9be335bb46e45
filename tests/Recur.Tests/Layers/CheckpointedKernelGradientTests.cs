using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// The checkpointed time loops in double: <see cref="CheckpointedStackKernel{T, TCell}"/> (plain stack) and
/// <see cref="CheckpointedDeepKernel{T, TCell}"/> (bidirectional, residual, dropout between layers) against central
/// finite differences of their own forward pass, and against the stored kernels (<see cref="RecurrentStackKernel{T, TCell}"/>,
/// <see cref="DeepRecurrentKernel{T, TCell}"/>): 2 layers, right-padded sequences (one of length 0, one of 1), fixed
/// input / recurrent dropout and zoneout masks per layer and direction, K not dividing T.
/// </summary>
public class CheckpointedKernelGradientTests
{
    private const int Steps = 7, Segment = 3; // segments of 3, 3, 1 steps
    private static readonly int[] Lengths = [7, 4, 0, 1];

    [Fact] public void CheckpointedLstmStackMatchesFiniteDifferences() => CheckStackFiniteDifferences<LstmCell>();
    [Fact] public void CheckpointedGruStackMatchesFiniteDifferences() => CheckStackFiniteDifferences<GruCell>();

    [Fact] public void CheckpointedBidirectionalResidualDropoutLstmMatchesFiniteDifferences() => CheckDeepFiniteDifferences<LstmCell>(directions: 2);
    [Fact] public void CheckpointedBidirectionalResidualDropoutGruMatchesFiniteDifferences() => CheckDeepFiniteDifferences<GruCell>(directions: 2);
    [Fact] public void CheckpointedUnidirectionalResidualDropoutLstmMatchesFiniteDifferences() => CheckDeepFiniteDifferences<LstmCell>(directions: 1);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(20)]
    public void CheckpointedLstmStackEqualsTheStoredStack(int segment) => CheckStackAgainstStored<LstmCell>(segment);

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public void CheckpointedGruStackEqualsTheStoredStack(int segment) => CheckStackAgainstStored<GruCell>(segment);

    [Theory]
    [InlineData(1, 2, true)]
    [InlineData(3, 2, true)]
    [InlineData(7, 2, false)]
    [InlineData(4, 1, true)]
    public void CheckpointedDeepLstmEqualsTheStoredDeepPath(int segment, int directions, bool layerNorm) =>
        CheckDeepAgainstStored<LstmCell>(segment, directions, layerNorm);

    [Theory]
    [InlineData(2, 2, true)]
    [InlineData(3, 1, false)]
    public void CheckpointedDeepGruEqualsTheStoredDeepPath(int segment, int directions, bool layerNorm) =>
        CheckDeepAgainstStored<GruCell>(segment, directions, layerNorm);

    // ---- the plain stack ----

    private static RecurrentHarness<double, TCell> Stack<TCell>(bool layerNorm = false) where TCell : IRecurrentCell
    {
        var h = RecurrentHarness<double, TCell>.Random(steps: Steps, batch: Lengths.Length, input: 3, hidden: 3, layers: 2, seed: 41, layerNorm: layerNorm);
        h.Lengths = Lengths;
        var random = new RecurRandom(6);
        h.Options = h.Weights.Select(w => (RecurrentLayerOptions<double>?)RecurrentLayerOptions.Draw<double>(random, Steps, h.Batch, w.InputSize,
            h.Hidden, TCell.HasCellState, inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25)).ToList();
        return h;
    }

    private static CheckpointedStackResult<double> StackForward<TCell>(RecurrentHarness<double, TCell> h, int segment) where TCell : IRecurrentCell =>
        CheckpointedStackKernel<double, TCell>.Forward(h.Weights, h.X, h.Steps, h.Batch, segment, h.H0, h.C0, h.Lengths, h.Options);

    private static double StackLoss<TCell>(RecurrentHarness<double, TCell> h, int segment) where TCell : IRecurrentCell
    {
        var r = StackForward(h, segment);
        return Dot(r.Output, h.DOutput) + Dot(r.FinalHidden, h.DhN) + Dot(r.FinalCell, h.DcN);
    }

    private static (double[] dx, double[] dh0, double[] dc0, List<RecurrentLayerWeights<double>> dWeights) StackBackward<TCell>(
        RecurrentHarness<double, TCell> h, int segment) where TCell : IRecurrentCell
    {
        var r = StackForward(h, segment);
        var dWeights = h.Weights.Select(w => w.ZerosLike()).ToList();
        var (dx, dh0, dc0) = (new double[h.X.Length], new double[h.H0.Length], new double[h.C0.Length]);
        CheckpointedStackKernel<double, TCell>.Backward(h.Weights, r, h.DOutput, h.DhN, h.DcN, dWeights, dx, dh0, dc0);
        return (dx, dh0, dc0, dWeights);
    }

    private static void CheckStackFiniteDifferences<TCell>() where TCell : IRecurrentCell
    {
        var h = Stack<TCell>();
        var analytic = StackBackward(h, Segment);
        var names = new List<string>();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            names.Add(name);
            AssertMatchesFiniteDifferences<TCell>(name, grad, GradientCheck.Numeric(() => StackLoss(h, Segment), value));
        }
        Assert.Contains("weight_hh_l1", names);
        Assert.Contains("h0", names);
        if (TCell.HasCellState) Assert.Contains("c0", names);
        AssertNoGradientAtPaddedSteps(analytic.dx, h.Batch, h.Input);
    }

    private static void CheckStackAgainstStored<TCell>(int segment) where TCell : IRecurrentCell
    {
        var h = Stack<TCell>(layerNorm: true);
        var stored = h.Forward();
        var checkpointed = StackForward(h, segment);
        // The layer kernel's arithmetic is per step, so the forward results are the same numbers.
        Assert.Equal(stored.Output.ToArray(), checkpointed.Output);
        Assert.Equal(stored.FinalHidden, checkpointed.FinalHidden);
        Assert.Equal(stored.FinalCell, checkpointed.FinalCell);
        var expected = h.Named(h.Backward()).ToList();
        var actual = h.Named(StackBackward(h, segment)).ToList();
        AssertSameGradients(expected, actual);
    }

    /// <summary>
    /// Batch-major sequences (the module's layout) give the same numbers as time-major ones: the segments are the
    /// same rows, gathered from another place.
    /// </summary>
    [Fact]
    public void BatchMajorSequencesGiveTheSameNumbers()
    {
        var h = Stack<LstmCell>(layerNorm: true);
        int B = h.Batch, I = h.Input, H = h.Hidden;
        var timeMajor = StackForward(h, Segment);
        var batchMajor = CheckpointedStackKernel<double, LstmCell>.Forward(h.Weights, Layout.SwapLeadingAxes<double>(h.X, Steps, B, I), Steps, B, Segment,
            h.H0, h.C0, h.Lengths, h.Options, batchMajor: true);
        Assert.Equal(timeMajor.Output, Layout.SwapLeadingAxes<double>(batchMajor.Output, B, Steps, H));
        Assert.Equal(timeMajor.FinalHidden, batchMajor.FinalHidden);
        var expected = StackBackward(h, Segment);
        var dWeights = h.Weights.Select(w => w.ZerosLike()).ToList();
        var (dx, dh0, dc0) = (new double[h.X.Length], new double[h.H0.Length], new double[h.C0.Length]);
        CheckpointedStackKernel<double, LstmCell>.Backward(h.Weights, batchMajor, Layout.SwapLeadingAxes<double>(h.DOutput, Steps, B, H),
            h.DhN, h.DcN, dWeights, dx, dh0, dc0);
        Assert.Equal(expected.dx, Layout.SwapLeadingAxes<double>(dx, B, Steps, I));
        Assert.Equal(expected.dh0, dh0);
        Assert.Equal(expected.dc0, dc0);
        var actual = h.Named((expected.dx, dh0, dc0, dWeights)).ToList();
        foreach (var ((name, _, e), (_, _, a)) in h.Named(expected).Zip(actual)) Assert.True(e.SequenceEqual(a), $"d/d{name}");
    }

    // ---- the deep path ----

    private static DeepRecurrentHarness<double, TCell> Deep<TCell>(int directions, bool layerNorm = false) where TCell : IRecurrentCell
    {
        var h = DeepRecurrentHarness<double, TCell>.Random(steps: Steps, batch: Lengths.Length, input: 3, hidden: 3, layers: 2, seed: 43,
            directions: directions, residual: true, lengths: Lengths, dropout: 0.3, layerNorm: layerNorm);
        var random = new RecurRandom(8);
        h.Options = h.Weights.Select(w => (RecurrentLayerOptions<double>?)RecurrentLayerOptions.Draw<double>(random, Steps, h.Batch, w.InputSize,
            h.Hidden, TCell.HasCellState, inputDropout: 0.3, recurrentDropout: 0.4, zoneout: 0.25)).ToList();
        return h;
    }

    private static CheckpointedDeepResult<double> DeepForward<TCell>(DeepRecurrentHarness<double, TCell> h, int segment) where TCell : IRecurrentCell =>
        CheckpointedDeepKernel<double, TCell>.Forward(h.Weights, h.Directions, h.Residual, h.Masks, h.X, h.Steps, h.Batch, segment,
            h.H0, h.C0, h.Lengths, h.Options);

    private static double DeepLoss<TCell>(DeepRecurrentHarness<double, TCell> h, int segment) where TCell : IRecurrentCell
    {
        var r = DeepForward(h, segment);
        return Dot(r.Output, h.DOutput) + Dot(r.FinalHidden, h.DhN) + Dot(r.FinalCell, h.DcN);
    }

    private static (double[] dx, double[] dh0, double[] dc0, List<RecurrentLayerWeights<double>> dWeights) DeepBackward<TCell>(
        DeepRecurrentHarness<double, TCell> h, int segment, double[][]? stepNorms = null) where TCell : IRecurrentCell
    {
        var r = DeepForward(h, segment);
        var dWeights = h.Weights.Select(w => w.ZerosLike()).ToList();
        var (dx, dh0, dc0) = (new double[h.X.Length], new double[h.H0.Length], new double[h.C0.Length]);
        CheckpointedDeepKernel<double, TCell>.Backward(h.Weights, r, h.DOutput, h.DhN, h.DcN, dWeights, dx, dh0, dc0, stepNorms);
        return (dx, dh0, dc0, dWeights);
    }

    private static void CheckDeepFiniteDifferences<TCell>(int directions) where TCell : IRecurrentCell
    {
        var h = Deep<TCell>(directions);
        var analytic = DeepBackward(h, Segment);
        var names = new List<string>();
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            names.Add(name);
            AssertMatchesFiniteDifferences<TCell>(name, grad, GradientCheck.Numeric(() => DeepLoss(h, Segment), value));
        }
        Assert.Contains(directions == 2 ? "weight_ih_l1_reverse" : "weight_ih_l1", names);
        AssertNoGradientAtPaddedSteps(analytic.dx, h.Batch, h.Input);
    }

    private static void CheckDeepAgainstStored<TCell>(int segment, int directions, bool layerNorm) where TCell : IRecurrentCell
    {
        var h = Deep<TCell>(directions, layerNorm);
        var stored = h.Forward();
        var checkpointed = DeepForward(h, segment);
        Assert.Equal(stored.Output, checkpointed.Output);
        Assert.Equal(stored.FinalHidden, checkpointed.FinalHidden);
        Assert.Equal(stored.FinalCell, checkpointed.FinalCell);
        var storedNorms = new double[h.Layers][];
        var checkpointedNorms = new double[h.Layers][];
        var expected = h.Named(h.Backward(storedNorms)).ToList();
        var actual = h.Named(DeepBackward(h, segment, checkpointedNorms)).ToList();
        AssertSameGradients(expected, actual);
        // The gradient-flow probe's per-step norms (each direction in its own reading order) are the same too.
        for (int l = 0; l < h.Layers; l++)
            Assert.True(GradientCheck.RelativeError(checkpointedNorms[l], storedNorms[l]) <= 1e-12, $"step gradient norms of layer {l}");
        var saturation = DeepRecurrentKernel<double, TCell>.SaturatedFraction(stored);
        var measured = CheckpointedDeepKernel<double, TCell>.Forward(h.Weights, h.Directions, h.Residual, h.Masks, h.X, h.Steps, h.Batch,
            segment, h.H0, h.C0, h.Lengths, h.Options, measureSaturation: true).SaturatedFraction!;
        for (int l = 0; l < h.Layers; l++) Assert.Equal(saturation[l], measured[l], 12);
    }

    // ---- workspace ----

    /// <summary>
    /// What the checkpointed forward passes keep is exactly their boundary states, final states and outputs (and the
    /// deep path's layer inputs): every segment's caches are given back; their backward passes release all they take.
    /// </summary>
    [Fact]
    public void CheckpointedKernelsGiveBackEverySegmentsWorkspace()
    {
        const int B = 4, H = 3, L = 2, S = 3; // ⌈7/3⌉ segments
        var stack = Stack<LstmCell>(layerNorm: true).Convert<float>();
        var meter = new WorkspaceMeter();
        CheckpointedStackResult<float> plain;
        using (Workspace.Measure(meter))
            plain = CheckpointedStackKernel<float, LstmCell>.Forward(stack.Weights, stack.X, Steps, B, Segment, stack.H0, stack.C0, stack.Lengths, stack.Options);
        long held = 2 * S * L * B * H   // h and c at each segment's start
            + 2 * L * B * H             // final h and c
            + Steps * B * H;            // the last layer's output
        Assert.Equal(4 * held, meter.Current);
        Assert.True(meter.Peak > meter.Current);
        meter.Reset();
        using (Workspace.Measure(meter))
            CheckpointedStackKernel<float, LstmCell>.Backward(stack.Weights, plain, stack.DOutput, stack.DhN, stack.DcN,
                stack.Weights.Select(w => w.ZerosLike()).ToList(), new float[stack.X.Length], new float[stack.H0.Length], new float[stack.C0.Length]);
        Assert.Equal(0, meter.Current);

        var deep = DeepRecurrentHarness<float, LstmCell>.Random(steps: Steps, batch: B, input: 3, hidden: H, layers: L, seed: 9,
            residual: true, lengths: Lengths, dropout: 0.3, layerNorm: true);
        var random = new RecurRandom(2);
        deep.Options = deep.Weights.Select(w => (RecurrentLayerOptions<float>?)RecurrentLayerOptions.Draw<float>(random, Steps, B, w.InputSize, H, true, 0.3, 0.4, 0.25)).ToList();
        meter.Reset();
        CheckpointedDeepResult<float> result;
        using (Workspace.Measure(meter))
            result = CheckpointedDeepKernel<float, LstmCell>.Forward(deep.Weights, 2, true, deep.Masks, deep.X, Steps, B, Segment, deep.H0, deep.C0, deep.Lengths, deep.Options);
        held = 2 * L * 2 * S * B * H    // h and c at each segment's start, per layer and direction
            + 2 * L * 2 * B * H         // final h and c
            + L * Steps * B * 2 * H;    // each layer's output: layer 1's input, and the result
        Assert.Equal(4 * held, meter.Current);
        meter.Reset();
        using (Workspace.Measure(meter))
            CheckpointedDeepKernel<float, LstmCell>.Backward(deep.Weights, result, deep.DOutput, deep.DhN, deep.DcN,
                deep.Weights.Select(w => w.ZerosLike()).ToList(), new float[deep.X.Length], new float[deep.H0.Length], new float[deep.C0.Length]);
        Assert.Equal(0, meter.Current);
    }

    [Fact]
    public void ASegmentBelowOneIsRefused()
    {
        var h = Stack<GruCell>();
        Assert.Throws<ArgumentOutOfRangeException>(() => StackForward(h, 0));
        var d = Deep<GruCell>(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => DeepForward(d, 0));
    }

    // ---- helpers ----

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static void AssertMatchesFiniteDifferences<TCell>(string name, double[] analytic, double[] numeric) where TCell : IRecurrentCell
    {
        double error = GradientCheck.RelativeError(analytic, numeric);
        Assert.True(error < 1e-7, $"checkpointed {TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
        Assert.True(numeric.Any(v => Math.Abs(v) > 1e-6), $"checkpointed {TCell.DisplayName} d/d{name} is all zero, so the check proves nothing");
    }

    /// <summary>Same names in the same order, each gradient equal to the stored path's to 1e-12 relative.</summary>
    private static void AssertSameGradients(List<(string name, double[] value, double[] grad)> expected, List<(string name, double[] value, double[] grad)> actual)
    {
        Assert.Equal(expected.Select(e => e.name), actual.Select(a => a.name));
        for (int i = 0; i < expected.Count; i++)
        {
            double error = GradientCheck.RelativeError(actual[i].grad, expected[i].grad);
            Assert.True(error <= 1e-12, $"d/d{expected[i].name}: checkpointed vs stored relative error {error:E2}");
        }
    }

    /// <summary>Padded steps get no input gradient, from either direction.</summary>
    private static void AssertNoGradientAtPaddedSteps(double[] dx, int batch, int input)
    {
        for (int b = 0; b < batch; b++)
            for (int t = Lengths[b]; t < Steps; t++)
                Assert.All(dx.AsSpan((t * batch + b) * input, input).ToArray(), v => Assert.Equal(0.0, v));
    }
}
