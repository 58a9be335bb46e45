using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// A stack whose later layer cannot run (its weights expect another input width than the layer below gives) throws a
/// clear error and gives back every buffer the layers before it took: the workspace meter reads zero afterwards, for
/// the layer-by-layer pass and for the wavefront, in training and in inference.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class StackFailureTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void AStackThatCannotRunGivesBackItsWorkspace(bool wavefront, bool keepForBackward)
    {
        const int T = 12, B = 9, I = 5, H = 7;
        var good = RecurrentHarness<double, LstmCell>.Random(T, B, I, H, layers: 2, seed: 5).Convert<float>();
        // Layer 1 expects inputs of width H + 1; layer 0 gives H.
        var layers = new[] { good.Weights[0], new RecurrentLayerWeights<float>(LstmCell.GateCount, H + 1, H) };
        var meter = new WorkspaceMeter();
        int threads = Engine.Threads;
        try
        {
            Engine.Threads = 2;
            (StackWavefront<float, LstmCell>.Forced, StackWavefront<float, LstmCell>.ForcedChunkSteps) = (wavefront, wavefront ? 3 : null);
            using (Workspace.Measure(meter))
            {
                var error = Assert.Throws<ArgumentException>(() => RecurrentStackKernel<float, LstmCell>.Forward(layers, good.X, T, B, [], [],
                    keepForBackward: keepForBackward));
                Assert.Contains($"I={H + 1}", error.Message);
            }
            Assert.True(meter.Peak > 0, "the first layer ran before the second failed");
            Assert.Equal(0, meter.Current);
        }
        finally
        {
            Engine.Threads = threads;
            (StackWavefront<float, LstmCell>.Forced, StackWavefront<float, LstmCell>.ForcedChunkSteps) = (null, null);
        }
    }
}
