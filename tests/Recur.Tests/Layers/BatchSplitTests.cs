using System.Numerics;
using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// The time loop split by batch across threads (<see cref="RecurrentLayerKernel{T, TCell}.BatchParts"/>): every part
/// runs all steps on its own sequences. Against the same kernel on one thread the outputs, states and all gradients
/// but the layer-norm gains' are bit-identical (each row's arithmetic is the same; the weight gradients are GEMMs
/// after the loop); layer-norm gain gradients and step norms are summed per part, so only their rounding moves. In
/// double the split kernel also matches finite differences, with masks, padding and uneven parts.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public class BatchSplitTests
{
    // B = 26 at 3 threads: parts of 8, 9 and 9 sequences; H = 13 is not a multiple of any vector width.
    private const int Steps = 7, Batch = 26, Input = 5, Hidden = 13, Threads = 3;

    private static int[] MixedLengths() => Enumerable.Range(0, Batch).Select(b => b % 5 == 0 ? Steps : (b * 3) % (Steps + 1)).ToArray();

    [Fact] public void LstmSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<LstmCell>(layerNorm: false);
    [Fact] public void GruSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<GruCell>(layerNorm: false);
    [Fact] public void RnnSplitMatchesOneThreadBitForBit() => CheckAgainstOneThread<RnnCell>(layerNorm: false);
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

    [Fact] public void SplitLayerNormLstmWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<LstmCell>();
    [Fact] public void SplitLayerNormGruWithMasksMatchesFiniteDifferences() => CheckFiniteDifferences<GruCell>();

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
        var (batchParts, cellParts) = AtThreads(Threads, () =>
            (RecurrentLayerKernel<float, TCell>.BatchParts(Batch, hidden), RecurrentLayerKernel<float, TCell>.CellParts(Batch, hidden)));
        if (hidden == Hidden) Assert.Equal(3, batchParts);
        else Assert.Equal((1, 3), (batchParts, cellParts));
        // Without layer norm each part projects its own rows' input (ProjectsInputPerPart), held here to one thread's product.
        Assert.Equal(hidden == Hidden && !layerNorm, RecurrentLayerKernel<float, TCell>.ProjectsInputPerPart(batchParts, layerNorm)
            && !AtThreads(Threads, () => RecurrentLayerKernel<float, TCell>.ProjectsInputPerStep(Input, hidden, Batch / batchParts)));
        var (oneForward, oneGradients) = Run(h, 1);
        var (splitForward, splitGradients) = Run(h, Threads);
        Assert.Equal(oneForward.Output.ToArray(), splitForward.Output.ToArray());
        Assert.Equal(oneForward.FinalHidden, splitForward.FinalHidden);
        Assert.Equal(oneForward.FinalCell, splitForward.FinalCell);
        for (int i = 0; i < oneGradients.Count; i++)
        {
            var (name, _, expected) = oneGradients[i];
            var actual = splitGradients[i].Grad;
            if (name.StartsWith("ln_hh_", StringComparison.Ordinal) || name.StartsWith("ln_c_", StringComparison.Ordinal))
                // Summed per part, then the parts in order: the same terms, another rounding.
                RecurrentGradientTests.AssertClose(name, actual, expected.Select(v => (double)v).ToArray(), 1e-6);
            else
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{TCell.DisplayName} d/d{name} differs between 1 and {Threads} threads");
        }
    }

    private static void CheckFiniteDifferences<TCell>() where TCell : IRecurrentCell
    {
        var h = Harness<double, TCell>(layerNorm: true, hidden: Hidden);
        var analytic = AtThreads(Threads, () =>
        {
            Assert.Equal(3, RecurrentLayerKernel<double, TCell>.BatchParts(Batch, Hidden));
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
