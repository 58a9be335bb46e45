using Recur.Autograd;
using Recur.Optimizers;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Optimizers;

/// <summary>
/// A parameter large enough for the adaptive-moment update to be split over the threads by element ranges (an
/// odd length, so the last part is short and ends in the scalar tail) gets the same bits at every thread count, and
/// every element is updated (after one step at one thread, no element keeps its starting value).
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class SplitUpdateTests
{
    public static TheoryData<string> Optimizers => new() { "adam", "adam-amsgrad", "adamw", "nadam" };

    [Theory, MemberData(nameof(Optimizers))]
    public void SplitUpdatesAreBitIdenticalToOneThread(string name)
    {
        const int length = (1 << 18) * 2 + 37;
        Assert.True(length > 2 * AdaptiveMomentOptimizer.MinValuesToSplit);
        var random = new Random(5);
        float[] start = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[][] gradients = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, length).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()).ToArray();
        int saved = Engine.Threads;
        try
        {
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Engine.Threads = threads;
                var p = new Parameter("w", new Tensor((float[])start.Clone(), length));
                Optimizer optimizer = name switch
                {
                    "adam" => new Adam([p], 0.01, weightDecay: 0.1),
                    "adam-amsgrad" => new Adam([p], 0.01, amsgrad: true),
                    "adamw" => new AdamW([p], 0.01, weightDecay: 0.1),
                    _ => new Nadam([p], 0.01),
                };
                foreach (var g in gradients)
                {
                    g.CopyTo(p.Grad.Data, 0);
                    optimizer.Step();
                    if (first is null && g == gradients[0]) // the first step moves every element (by about the learning rate)
                        for (int i = 0; i < length; i++) Assert.True(p.Value.Data[i] != start[i], $"{name}: element {i} was not updated");
                }
                if (first is null) first = p.Value.Data;
                else Assert.True(first.AsSpan().SequenceEqual(p.Value.Data), $"{name}: {threads} threads differ from one");
            }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
