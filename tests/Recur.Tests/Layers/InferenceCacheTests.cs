using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// An inference pass (nothing recorded) keeps one step of gate values instead of all T: the same outputs and states
/// bit for bit, a smaller workspace, and no backward pass from it.
/// </summary>
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
