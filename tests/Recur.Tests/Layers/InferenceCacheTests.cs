using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// An inference pass (nothing recorded) keeps one step of gate values instead of all T, and of the cell state (and the
/// hidden state, where the output is a buffer of its own) only the steps in flight and the last: the same outputs and
/// states bit for bit, a smaller workspace, and no backward pass from it.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public class InferenceCacheTests
{
    [Fact]
    public void OneStepOfGateValuesGivesTheSameOutputsAndStates()
    {
        var h = RecurrentHarness<double, LstmCell>.Random(steps: 9, batch: 19, input: 5, hidden: 13, layers: 2, seed: 71, layerNorm: true);
        h.Lengths = Enumerable.Range(0, 19).Select(b => (b * 5) % 10).ToArray();
        h.Options = RecurrentRegularizationTests.Masks(h, 0, 0, 0.2, zoneoutMasks: false);
        var f = h.Convert<float>();
        var kept = RecurrentStackKernel<float, LstmCell>.Forward(f.Weights, f.X, f.Steps, f.Batch, f.H0, f.C0, f.Lengths, f.Options);
        var lean = RecurrentStackKernel<float, LstmCell>.Forward(f.Weights, f.X, f.Steps, f.Batch, f.H0, f.C0, f.Lengths, f.Options, keepForBackward: false);
        Assert.Equal(kept.Output.ToArray(), lean.Output.ToArray());
        Assert.Equal(kept.FinalHidden, lean.FinalHidden);
        Assert.Equal(kept.FinalCell, lean.FinalCell);
        Assert.All(lean.Layers, cache => Assert.Equal(f.Batch * LstmCell.SavedWidth * f.Hidden, cache.Saved.Length));
        var grads = f.Weights[0].ZerosLike();
        Assert.Throws<InvalidOperationException>(() => RecurrentLayerKernel<float, LstmCell>.Backward(f.Weights[0], lean.Layers[0],
            new float[f.Steps * f.Batch * f.Hidden], [], [], grads, [], [], []));
    }

    /// <summary>
    /// The inference state rings (c_{t−1}, c_t and the final c_T; likewise h where the output is a buffer of its own:
    /// masked sequences, a part-major split, the caller's batch-major buffer) and layer norm's one step of statistics
    /// against the pass that keeps every step,
    /// in each path of the forward pass: the batch split part-major (small H) and time-major (layer norm), the unsplit
    /// batch whose cell rows are split over the threads (B = 8, H = 512), and the stack's wavefront. Step counts around
    /// the ring's size (T = 1 and 2 keep every step), sequences padded to lengths 0 … T or not, inference zoneout on
    /// the last layer.
    /// </summary>
    [Theory]
    [InlineData("part-major", 1)]
    [InlineData("part-major", 2)]
    [InlineData("part-major", 3)]
    [InlineData("part-major", 8)]
    [InlineData("part-major", 9)]
    [InlineData("layer norm", 9)]
    [InlineData("cell rows split", 5)]
    [InlineData("wavefront", 23)]
    public void TheStateRingsGiveTheBitsOfThePassThatKeepsEveryStep(string path, int steps)
    {
        var (batch, hidden, layers) = path switch
        {
            "cell rows split" => (8, 512, 1),
            "wavefront" => (37, 45, 3),
            _ => (24, 13, 2),
        };
        int BH = batch * hidden;
        var f = RecurrentHarness<double, LstmCell>.Random(steps, batch, input: 5, hidden, layers, seed: 29, layerNorm: path == "layer norm").Convert<float>();
        var options = Enumerable.Range(0, layers).Select(l => l == layers - 1 ? new RecurrentLayerOptions<float> { Zoneout = 0.2 } : null).ToList();
        var (threads, processors) = (Engine.Threads, StepLayout.Processors);
        try
        {
            (Engine.Threads, StepLayout.Processors) = (2, 2);
            foreach (bool masked in new[] { true, false })
            {
                int[] lengths = masked ? Enumerable.Range(0, batch).Select(b => b % (steps + 1)).ToArray() : [];
                (StackWavefront<float, LstmCell>.Forced, StackWavefront<float, LstmCell>.ForcedChunkSteps) = (null, null);
                var kept = RecurrentStackKernel<float, LstmCell>.Forward(f.Weights, f.X, steps, batch, f.H0, f.C0, lengths, options);
                if (path == "wavefront") (StackWavefront<float, LstmCell>.Forced, StackWavefront<float, LstmCell>.ForcedChunkSteps) = (true, 3);
                var lean = RecurrentStackKernel<float, LstmCell>.Forward(f.Weights, f.X, steps, batch, f.H0, f.C0, lengths, options, keepForBackward: false);
                var batchMajor = new float[batch * steps * hidden];
                var toCaller = RecurrentStackKernel<float, LstmCell>.Forward(f.Weights, f.X, steps, batch, f.H0, f.C0, lengths, options,
                    keepForBackward: false, batchMajorOutput: batchMajor);

                if (path != "wavefront") Assert.Equal(path == "part-major", kept.Layers[0].Layout.PartMajor);
                Assert.Equal(kept.Output.ToArray(), lean.Output.ToArray());
                Assert.Equal(Layout.SwapLeadingAxes<float>(kept.Output.ToArray(), steps, batch, hidden), batchMajor);
                foreach (var result in new[] { lean, toCaller })
                {
                    Assert.Equal(kept.FinalHidden, result.FinalHidden);
                    Assert.Equal(kept.FinalCell, result.FinalCell);
                }
                bool ring = steps > 2;
                for (int l = 0; l < layers; l++)
                {
                    var cache = lean.Layers[l];
                    bool ownOutput = masked || cache.Layout.PartMajor;
                    Assert.Equal((ring ? 3 : steps + 1) * BH, cache.Cs.Length);
                    Assert.Equal((ring && ownOutput ? 3 : steps + 1) * BH, cache.Hs.Length);
                    Assert.Equal((ring && (ownOutput || l == layers - 1) ? 3 : steps + 1) * BH, toCaller.Layers[l].Hs.Length);
                    if (path == "layer norm")
                    {
                        // Layer norm's statistics: one step of each.
                        Assert.Equal(4 * BH, cache.XNorm.Length);
                        Assert.Equal(4 * BH, cache.HNorm.Length);
                        Assert.Equal(BH, cache.CNorm.Length);
                        Assert.All(new[] { cache.XRstd, cache.HRstd, cache.CRstd }, rstd => Assert.Equal(batch, rstd.Length));
                    }
                    // The final states read through the rings; no other step is kept.
                    int b = batch - 1;
                    Assert.Equal(lean.FinalHidden.AsSpan(l * BH + b * hidden, hidden).ToArray(), cache.HiddenAt(steps, b).ToArray());
                    Assert.Equal(lean.FinalCell.AsSpan(l * BH + b * hidden, hidden).ToArray(), cache.CellAt(steps, b).ToArray());
                    if (ring) Assert.Throws<InvalidOperationException>(() => cache.CellAt(steps - 1, b).ToArray());
                    if (ring && ownOutput) Assert.Throws<InvalidOperationException>(() => cache.HiddenAt(steps - 1, b).ToArray());
                }
            }
        }
        finally
        {
            (Engine.Threads, StepLayout.Processors) = (threads, processors);
            (StackWavefront<float, LstmCell>.Forced, StackWavefront<float, LstmCell>.ForcedChunkSteps) = (null, null);
        }
    }

    [Fact]
    public void AnInferenceTapeHoldsLessWorkspaceThanARecordingOne()
    {
        var lstm = new Lstm("rnn", 8, 32, 2, random: new RecurRandom(3));
        var input = new Tensor(Enumerable.Range(0, 4 * 50 * 8).Select(i => (float)Math.Sin(i * 0.1)).ToArray(), 4, 50, 8);
        long Peak(bool record, out float[] output)
        {
            var meter = new WorkspaceMeter();
            using (Workspace.Measure(meter))
            using (var tape = new Tape(isRecording: record))
                output = lstm.Forward(tape, new Variable(input)).Output.Value.Data.ToArray();
            return meter.Peak;
        }
        long recording = Peak(true, out var recorded), inference = Peak(false, out var inferred);
        Assert.Equal(recorded, inferred);
        // The recording pass holds all 50 steps of 5 gate values per unit and layer; inference one step of them.
        long savedBytes = 2L * 50 * 4 * 5 * 32 * sizeof(float);
        Assert.True(recording - inference >= savedBytes * 49 / 50, $"recording peak {recording} B, inference {inference} B");
    }
}
