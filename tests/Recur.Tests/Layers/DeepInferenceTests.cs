using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// A deep, bidirectional stack in inference gives each layer-direction's cache and each layer's inputs back as soon as
/// nothing reads them: the same output and final states bit for bit as the pass kept for backward, a lower workspace
/// peak, and only the output and final states held when it returns.
/// </summary>
public sealed class DeepInferenceTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void InferenceGivesBackEachCacheOnceItsOutputIsCopied(bool residual)
    {
        const int T = 11, B = 6, I = 4, H = 5, L = 3;
        var h = DeepRecurrentHarness<float, LstmCell>.Random(T, B, I, H, L, seed: 17, residual: residual, lengths: [11, 0, 3, 7, 11, 1]);
        var (weights, x, h0, c0) = (h.Weights, h.X, h.H0, h.C0);
        var zoneout = Enumerable.Range(0, L * 2).Select(k => k == 3 ? new RecurrentLayerOptions<float> { Zoneout = 0.3 } : null).ToList();
        (DeepRecurrentResult<float> Result, long Peak, long Held) Run(bool keep)
        {
            var meter = new WorkspaceMeter();
            using (Workspace.Measure(meter))
            {
                var result = DeepRecurrentKernel<float, LstmCell>.Forward(weights, 2, residual, null, x, T, B, h0, c0, h.Lengths, zoneout, keepForBackward: keep);
                return (result, meter.Peak, meter.Current);
            }
        }
        var (kept, keptPeak, _) = Run(true);
        var (lean, leanPeak, leanHeld) = Run(false);

        Assert.Equal(kept.Output, lean.Output);
        Assert.Equal(kept.FinalHidden, lean.FinalHidden);
        Assert.Equal(kept.FinalCell, lean.FinalCell);
        Assert.Equal(L * 2, kept.Caches.Count);
        Assert.Empty(lean.Caches);
        // Held on return: the last layer's output [T, B, 2H] and the final states [2L, B, H] (h and c), nothing else.
        Assert.Equal((T * B * 2 * H + 2 * (2 * L * B * H)) * (long)sizeof(float), leanHeld);
        Assert.True(leanPeak < keptPeak / 2, $"inference peak {leanPeak} B, kept for backward {keptPeak} B");
    }
}
