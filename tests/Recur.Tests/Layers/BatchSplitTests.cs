using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// The time loop split by batch across threads: every part runs all steps on its own sequences. A small model's split
/// is part-major (<see cref="StepLayout"/>), its parts fixed by the batch and the machine's processors (set to 3 here),
/// and each part sums its own rows' weight and bias gradients: at 1 and 3 threads every result is bit-identical, and
/// against the time-major layout (forced) only those sums move, by rounding. A layer-normalised split stays time-major
/// with as many parts as threads: outputs, states and all gradients but the layer-norm gains' (summed per part) are
/// bit-identical to one thread's. In double the split kernel also matches finite differences in both layouts, with
/// masks, padding and uneven parts.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class BatchSplitTests : IDisposable
{
    private readonly int _processors = StepLayout.Processors;

    public BatchSplitTests() => StepLayout.Processors = Threads;

    public void Dispose() => StepLayout.Processors = _processors;

    // B = 26 at 3 threads: parts of 8, 9 and 9 sequences; H = 13 is not a multiple of any vector width.
    private const int Steps = 7, Batch = 26, Input = 5, Hidden = 13, Threads = 3;

    private static int[] MixedLengths() => Enumerable.Range(0, Batch).Select(b => b % 5 == 0 ? Steps : (b * 3) % (Steps + 1)).ToArray();

    [Fact] public void LstmSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<LstmCell>(layerNorm: false);
    [Fact] public void GruSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<GruCell>(layerNorm: false);
    [Fact] public void RnnSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<RnnCell>(layerNorm: false);
    [Fact] public void LstmPartMajorMatchesTimeMajor() => CheckLayouts<LstmCell>();
    [Fact] public void GruPartMajorMatchesTimeMajor() => CheckLayouts<GruCell>();
    [Fact] public void LayerNormLstmSplitMatchesOneThread() => CheckAgainstOneThread<LstmCell>(layerNorm: true);
    [Fact] public void LayerNormGruSplitMatchesOneThread() => CheckAgainstOneThread<GruCell>(layerNorm: true);

    // H = 600: W_hh is over 4 MiB, so the batch stays whole and the threads split each step's product by columns
    // and each step's cell by rows instead.
    [Fact] public void LstmCellSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<LstmCell>(layerNorm: false, hidden: 600);
    [Fact] public void GruCellSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<GruCell>(layerNorm: false, hidden: 600);

    [Fact]
    public void TheSplitNeedsEnoughSequencesPerThreadAndSmallRecurrentWeights()
    {
        Assert.Equal(3, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.BatchParts(26, 64)));
        Assert.Equal(2, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.BatchParts(16, 64)));
        Assert.Equal(1, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.BatchParts(15, 64)));
        // W_hh of H = 1024 is 16 MiB: every thread reading all of it each step would cost more than a barrier.
        Assert.Equal(1, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.BatchParts(128, 1024)));
        Assert.Equal(1, AtThreads(1, () => RecurrentLayerKernel<float, LstmCell>.BatchParts(128, 64)));
        // A small model's split is part-major with parts fixed by the processors (3 here), at any thread count; layer
        // norm and larger models (W_hh over 256 KiB: H = 256) split time-major by threads.
        foreach (int threads in new[] { 1, 2, 5 })
        {
            var small = AtThreads(threads, () => RecurrentLayerKernel<float, LstmCell>.Split(10, 64, 128, layerNorm: false));
            Assert.Equal((3, true), (small.Parts, small.PartMajor));
            var normalised = AtThreads(threads, () => RecurrentLayerKernel<float, LstmCell>.Split(10, 64, 128, layerNorm: true));
            Assert.Equal((Math.Min(threads, 8), false), (normalised.Parts, normalised.PartMajor));
            var large = AtThreads(threads, () => RecurrentLayerKernel<float, LstmCell>.Split(10, 64, 256, layerNorm: false));
            Assert.Equal((Math.Min(threads, 8), false), (large.Parts, large.PartMajor));
        }
        Assert.Equal(2, RecurrentLayerKernel<float, LstmCell>.Split(10, 16, 64, layerNorm: false).Parts);
        Assert.Equal(1, RecurrentLayerKernel<float, LstmCell>.Split(10, 15, 64, layerNorm: false).Parts);
        // Then each step's cell is split by rows when it has enough units, at least two rows per part.
        Assert.Equal(3, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.CellParts(128, 1024)));
        Assert.Equal(2, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.CellParts(5, 1024)));
        Assert.Equal(1, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.CellParts(3, 1024)));
        Assert.Equal(1, AtThreads(3, () => RecurrentLayerKernel<float, LstmCell>.CellParts(8, 256)));
        Assert.Equal(1, AtThreads(1, () => RecurrentLayerKernel<float, LstmCell>.CellParts(128, 1024)));
        // The input is projected step by step for config b's layers (32 rows a part), not for config a's tiny
        // per-step product nor for config d's 16 MiB W_ih; never for double.
        Assert.True(RecurrentLayerKernel<float, LstmCell>.ProjectsInputPerStep(32, 256, 32));
        Assert.True(RecurrentLayerKernel<float, LstmCell>.ProjectsInputPerStep(256, 256, 32));
        Assert.False(RecurrentLayerKernel<float, LstmCell>.ProjectsInputPerStep(8, 64, 16));
        Assert.False(RecurrentLayerKernel<float, LstmCell>.ProjectsInputPerStep(1024, 1024, 128));
        Assert.False(RecurrentLayerKernel<double, LstmCell>.ProjectsInputPerStep(256, 256, 32));
    }

    // The input projection one step at a time inside the loop (chosen for a small W_ih and a large enough per-step
    // product) against the product over all steps before it: same outputs, states and gradients, bit for bit,
    // split or not.
    [Fact] public void LstmPerStepInputProjectionGivesTheBitsOfTheAllStepsProduct() => CheckInputProjectionPaths<LstmCell>();
    [Fact] public void GruPerStepInputProjectionGivesTheBitsOfTheAllStepsProduct() => CheckInputProjectionPaths<GruCell>();
    [Fact] public void RnnPerStepInputProjectionGivesTheBitsOfTheAllStepsProduct() => CheckInputProjectionPaths<RnnCell>();

    private static void CheckInputProjectionPaths<TCell>() where TCell : IRecurrentCell
    {
        var h = Harness<float, TCell>(layerNorm: false, Hidden);
        try
        {
            foreach (int threads in new[] { 1, Threads })
            {
                RecurrentLayerKernel<float, TCell>.InputProjectionPerStep = false;
                var (allForward, allGradients) = Run(h, threads);
                RecurrentLayerKernel<float, TCell>.InputProjectionPerStep = true;
                var (stepForward, stepGradients) = Run(h, threads);
                Assert.Equal(allForward.Output.ToArray(), stepForward.Output.ToArray());
                Assert.Equal(allForward.FinalHidden, stepForward.FinalHidden);
                Assert.Equal(allForward.FinalCell, stepForward.FinalCell);
                for (int i = 0; i < allGradients.Count; i++)
                    Assert.True(allGradients[i].Grad.AsSpan().SequenceEqual(stepGradients[i].Grad),
                        $"{TCell.DisplayName} d/d{allGradients[i].Name} differs between the input projection paths at {threads} thread(s)");
            }
        }
        finally
        {
            RecurrentLayerKernel<float, TCell>.InputProjectionPerStep = null;
        }
    }

    [Fact]
    public void BiasGradientSumsSplitByColumnsGiveTheBitsOfOneThread()
    {
        // [600, 2000] gate gradients: over the split threshold, so three threads sum column ranges.
        const int R = 600, W = 2000;
        Assert.True(R * W >= RecurrentLayerKernel<float, LstmCell>.MinBiasGradientsToSplit);
        var random = new Recur.Randomness.RecurRandom(4);
        float[] dGates = Enumerable.Range(0, R * W).Select(_ => (float)random.Uniform(-1, 1)).ToArray();
        float[] start = Enumerable.Range(0, W).Select(_ => (float)random.Uniform(-1, 1)).ToArray();
        float[] serial = (float[])start.Clone();
        Recur.Tensors.Rows.AddColumnSums<float>(dGates, serial);
        foreach (int threads in new[] { 1, 3 })
        {
            float[] sums = (float[])start.Clone(), also = (float[])start.Clone();
            AtThreads(threads, () => { RecurrentLayerKernel<float, LstmCell>.AddBiasGradients(dGates, W, sums, also); return 0; });
            Assert.Equal(serial, sums);
            Assert.Equal(serial, also);
        }
    }

    [Fact] public void SplitLayerNormLstmWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<LstmCell>(layerNorm: true);
    [Fact] public void SplitLayerNormGruWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<GruCell>(layerNorm: true);
    [Fact] public void PartMajorLstmWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<LstmCell>(layerNorm: false);
    [Fact] public void PartMajorGruWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<GruCell>(layerNorm: false);

    // The module's path: the last layer writes its output batch-major itself and reads a batch-major output gradient
    // (in place for a small model, transposed first for H = 160, whose W_hh is over 256 KiB). Against the time-major
    // output and gradient, transposed: the same bits, in one part (one processor), split part-major (3 parts) and
    // time-major (layer norm, or H = 160; 3 threads).
    [Theory]
    [InlineData(1, false, Hidden)]
    [InlineData(Threads, false, Hidden)]
    [InlineData(Threads, true, Hidden)]
    [InlineData(Threads, false, 160)]
    public void BatchMajorOutputAndGradientGiveTheBitsOfTheTimeMajorOnes(int threads, bool layerNorm, int hidden)
    {
        StepLayout.Processors = threads;
        var h = Harness<float, LstmCell>(layerNorm, hidden);
        AtThreads(threads, () =>
        {
            int BH = Batch * hidden;
            var timeMajor = h.Forward();
            var batchMajor = new float[Steps * BH];
            var direct = RecurrentStackKernel<float, LstmCell>.Forward(h.Weights, h.X, Steps, Batch, h.H0, h.C0, h.Lengths, h.Options, batchMajorOutput: batchMajor);
            Assert.Equal(threads > 1, direct.Layers[^1].Layout.Parts > 1);
            Assert.Equal(Recur.Tensors.Layout.SwapLeadingAxes<float>(timeMajor.Output.Span, Steps, Batch, hidden), batchMajor);
            Assert.Throws<InvalidOperationException>(() => direct.Output);

            var (expected, actual) = (h.Weights.Select(w => w.ZerosLike()).ToList(), h.Weights.Select(w => w.ZerosLike()).ToList());
            var (dxExpected, dxActual) = (new float[h.X.Length], new float[h.X.Length]);
            var (dh0Expected, dh0Actual) = (new float[h.H0.Length], new float[h.H0.Length]);
            RecurrentStackKernel<float, LstmCell>.Backward(h.Weights, timeMajor, h.DOutput, h.DhN, h.DcN, expected, dxExpected, dh0Expected, []);
            var dOutputBatchMajor = Recur.Tensors.Layout.SwapLeadingAxes<float>(h.DOutput, Steps, Batch, hidden);
            RecurrentStackKernel<float, LstmCell>.Backward(h.Weights, direct, dOutputBatchMajor, h.DhN, h.DcN, actual, dxActual, dh0Actual, [], dOutputBatchMajor: true);
            Assert.Equal(dxExpected, dxActual);
            Assert.Equal(dh0Expected, dh0Actual);
            for (int l = 0; l < expected.Count; l++)
            {
                Assert.Equal(expected[l].InputWeights, actual[l].InputWeights);
                Assert.Equal(expected[l].RecurrentWeights, actual[l].RecurrentWeights);
                Assert.Equal(expected[l].InputBias, actual[l].InputBias);
                Assert.Equal(expected[l].RecurrentBias, actual[l].RecurrentBias);
            }
            return 0;
        });
    }

    // The meter follows the calling thread (an AsyncLocal), so the parts' own buffers are allocated there, before the
    // parts run on the worker team: the peak is the same at one thread and at three.
    [Fact]
    public void TheWorkspaceMeterCountsEveryPartsBuffersAtAnyThreadCount()
    {
        var h = Harness<float, LstmCell>(layerNorm: false, Hidden);
        long Peak(int threads) => AtThreads(threads, () =>
        {
            var meter = new Recur.Tensors.WorkspaceMeter();
            using (Recur.Tensors.Workspace.Measure(meter)) h.Backward();
            return meter.Peak;
        });
        Assert.Equal(Peak(1), Peak(Threads));
    }

    [Fact]
    public void PartMajorRowsFollowEachPartsBlock()
    {
        // B = 26 in 3 parts (8, 9, 9 sequences), T = 7: part 1 starts at row 8·7; step T stays time-major.
        var layout = new StepLayout(Steps, Batch, 3, partMajor: true);
        Assert.Equal(0, layout.Row(0, 0));
        Assert.Equal(7 * 8 + 0, layout.Row(0, 8));
        Assert.Equal(7 * 8 + 2 * 9 + 1, layout.Row(2, 9));
        Assert.Equal(7 * 17 + 6 * 9 + 8, layout.Row(6, 25));
        Assert.Equal(Steps * Batch + 25, layout.Row(Steps, 25));
        var rows = Enumerable.Range(0, Steps).SelectMany(t => Enumerable.Range(0, Batch).Select(b => layout.Row(t, b))).Order();
        Assert.Equal(Enumerable.Range(0, Steps * Batch), rows);
        float[] timeMajor = Enumerable.Range(0, Steps * Batch * 2).Select(i => (float)i).ToArray(), inLayout = new float[timeMajor.Length], back = new float[timeMajor.Length];
        layout.Reorder(2, timeMajor, inLayout, toLayout: true);
        for (int t = 0; t < Steps; t++)
            for (int b = 0; b < Batch; b++)
                for (int k = 0; k < 2; k++) Assert.Equal(timeMajor[(t * Batch + b) * 2 + k], inLayout[layout.Row(t, b) * 2 + k]);
        layout.Reorder(2, inLayout, back, toLayout: false);
        Assert.Equal(timeMajor, back);
        Assert.Equal(2 * Batch + 7, new StepLayout(Steps, Batch, 3, partMajor: false).Row(2, 7));
    }

    private static RecurrentHarness<T, TCell> Harness<T, TCell>(bool layerNorm, int hidden) where T : struct, IFloatingPointIeee754<T> where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(Steps, Batch, Input, hidden, layers: 2, seed: 61, layerNorm: layerNorm);
        reference.Lengths = MixedLengths();
        reference.Options = RecurrentRegularizationTests.Masks(reference, 0.2, 0.3, 0.15);
        return reference.Convert<T>();
    }

    /// <summary>Runs <paramref name="work"/> with <see cref="Engine.Threads"/> set to <paramref name="threads"/>, then restores it.</summary>
    private static TResult AtThreads<TResult>(int threads, Func<TResult> work)
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = threads;
            return work();
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    private static (RecurrentStackResult<float> Forward, List<(string Name, float[] Value, float[] Grad)> Gradients) Run<TCell>(
        RecurrentHarness<float, TCell> h, int threads) where TCell : IRecurrentCell =>
        AtThreads(threads, () => (h.Forward(), h.Named(h.Backward()).ToList()));

    private static void CheckAgainstOneThread<TCell>(bool layerNorm, int hidden = Hidden) where TCell : IRecurrentCell
    {
        var h = Harness<float, TCell>(layerNorm, hidden);
        var (layout, cellParts) = AtThreads(Threads, () =>
            (RecurrentLayerKernel<float, TCell>.Split(Steps, Batch, hidden, layerNorm), RecurrentLayerKernel<float, TCell>.CellParts(Batch, hidden)));
        bool partMajor = hidden == Hidden && !layerNorm;
        if (hidden == Hidden) Assert.Equal((3, partMajor), (layout.Parts, layout.PartMajor));
        else Assert.Equal((1, 3), (layout.Parts, cellParts));
        // Without layer norm each part projects its own rows' input (ProjectsInputPerPart), held here to one thread's product.
        Assert.Equal(hidden == Hidden && !layerNorm, RecurrentLayerKernel<float, TCell>.ProjectsInputPerPart(layout.Parts, layerNorm)
            && !AtThreads(Threads, () => RecurrentLayerKernel<float, TCell>.ProjectsInputPerStep(Input, hidden, Batch / layout.Parts)));
        var (oneForward, oneGradients) = Run(h, 1);
        var (splitForward, splitGradients) = Run(h, Threads);
        Assert.Equal(partMajor, splitForward.Layers[0].Layout.PartMajor);
        AssertSameForward<TCell>(oneForward, splitForward);
        // The layer-norm gains' gradients are summed per part, then the parts in order: the same terms, another rounding.
        AssertSameGradients<TCell>(oneGradients, splitGradients, name => name.StartsWith("ln_hh_", StringComparison.Ordinal) || name.StartsWith("ln_c_", StringComparison.Ordinal),
            $"between 1 and {Threads} threads");
    }

    // The same split laid out part-major and (forced) time-major: the weight and bias gradients are summed per part in
    // one and over all rows in the other, so only they move, by rounding.
    private static void CheckLayouts<TCell>() where TCell : IRecurrentCell
    {
        var h = Harness<float, TCell>(layerNorm: false, Hidden);
        try
        {
            RecurrentLayerKernel<float, TCell>.PartMajorLayout = false;
            var (timeForward, timeGradients) = Run(h, Threads);
            RecurrentLayerKernel<float, TCell>.PartMajorLayout = null;
            var (partForward, partGradients) = Run(h, Threads);
            Assert.False(timeForward.Layers[0].Layout.PartMajor);
            Assert.True(partForward.Layers[0].Layout.PartMajor);
            AssertSameForward<TCell>(timeForward, partForward);
            AssertSameGradients<TCell>(timeGradients, partGradients, name => name.StartsWith("weight_", StringComparison.Ordinal) || name.StartsWith("bias_", StringComparison.Ordinal),
                "between the layouts");
        }
        finally
        {
            RecurrentLayerKernel<float, TCell>.PartMajorLayout = null;
        }
    }

    // Every gradient bit for bit, except those summed in another order (to 1e-6).
    private static void AssertSameGradients<TCell>(List<(string Name, float[] Value, float[] Grad)> expected, List<(string Name, float[] Value, float[] Grad)> actual,
        Func<string, bool> summedInAnotherOrder, string what) where TCell : IRecurrentCell
    {
        for (int i = 0; i < expected.Count; i++)
        {
            var (name, _, want) = expected[i];
            if (summedInAnotherOrder(name)) RecurrentGradientTests.AssertClose(name, actual[i].Grad, want.Select(v => (double)v).ToArray(), 1e-6);
            else Assert.True(want.AsSpan().SequenceEqual(actual[i].Grad), $"{TCell.DisplayName} d/d{name} differs {what}");
        }
    }

    private static void AssertSameForward<TCell>(RecurrentStackResult<float> expected, RecurrentStackResult<float> actual) where TCell : IRecurrentCell
    {
        Assert.Equal(expected.Output.ToArray(), actual.Output.ToArray());
        Assert.Equal(expected.FinalHidden, actual.FinalHidden);
        Assert.Equal(expected.FinalCell, actual.FinalCell);
        for (int l = 0; l < expected.Layers.Count; l++)
            Assert.Equal(RecurrentLayerKernel<float, TCell>.SaturatedFraction(expected.Layers[l]), RecurrentLayerKernel<float, TCell>.SaturatedFraction(actual.Layers[l]));
    }

    private static void CheckFiniteDifferences<TCell>(bool layerNorm) where TCell : IRecurrentCell
    {
        var h = Harness<double, TCell>(layerNorm, hidden: Hidden);
        var analytic = AtThreads(Threads, () =>
        {
            var layout = h.Forward().Layers[0].Layout;
            Assert.Equal((3, !layerNorm), (layout.Parts, layout.PartMajor));
            return h.Backward();
        });
        // The loss is recomputed at the same thread count, so the differences see the split kernel too.
        foreach (var (name, value, grad) in h.Named(analytic))
        {
            var numeric = AtThreads(Threads, () => GradientCheck.Numeric(h.Loss, value));
            double error = GradientCheck.RelativeError(grad, numeric);
            Assert.True(error < 1e-7, $"{TCell.DisplayName} d/d{name}: relative error {error:E2} against finite differences");
        }
    }
}
