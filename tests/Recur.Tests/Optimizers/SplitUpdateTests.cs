using Recur.Autograd;
using Recur.Optimizers;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Optimizers;

/// <summary>
/// Parameters large enough together for the adaptive-moment update to be split over the threads by element ranges of
/// the parameters laid end to end (odd lengths, so the parts' boundaries fall inside parameters and short ones lie
/// wholly inside a part) get the same bits at every thread count; every element with a gradient is updated (after
/// one step at one thread, none keeps its starting value) and a parameter without a gradient is left alone.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class SplitUpdateTests
{
    public static TheoryData<string> Optimizers => new() { "adam", "adam-amsgrad", "adamw", "nadam" };

    [Theory, MemberData(nameof(Optimizers))]
    public void SplitUpdatesAreBitIdenticalToOneThread(string name)
    {
        int[] lengths = [9001, 7, 3 * AdaptiveMomentOptimizer.MinValuesToSplit + 13, 64, 33];
        const int withoutGradient = 3;
        Assert.True(lengths.Sum() - lengths[withoutGradient] > 2 * AdaptiveMomentOptimizer.MinValuesToSplit);
        var random = new Random(5);
        float[][] starts = lengths.Select(n => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()).ToArray();
        float[][][] gradients = Enumerable.Range(0, 3).Select(_ =>
            lengths.Select(n => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()).ToArray()).ToArray();
        int saved = Engine.Threads;
        try
        {
            float[][]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Engine.Threads = threads;
                var ps = lengths.Select((n, k) => new Parameter($"w{k}", new Tensor((float[])starts[k].Clone(), n))).ToArray();
                Optimizer optimizer = name switch
                {
                    "adam" => new Adam(ps, 0.01, weightDecay: 0.1),
                    "adam-amsgrad" => new Adam(ps, 0.01, amsgrad: true),
                    "adamw" => new AdamW(ps, 0.01, weightDecay: 0.1),
                    _ => new Nadam(ps, 0.01),
                };
                foreach (var step in gradients)
                {
                    for (int k = 0; k < ps.Length; k++)
                        if (k != withoutGradient) step[k].CopyTo(ps[k].Grad.Data, 0);
                    optimizer.Step();
                    if (first is null && step == gradients[0]) // the first step moves every element (by about the learning rate)
                        for (int k = 0; k < ps.Length; k++)
                            for (int i = 0; i < lengths[k]; i++)
                                Assert.True((ps[k].Value.Data[i] != starts[k][i]) == (k != withoutGradient), $"{name}: parameter {k}, element {i}");
                }
                if (first is null) first = ps.Select(p => p.Value.Data).ToArray();
                else
                    for (int k = 0; k < ps.Length; k++)
                        Assert.True(first[k].AsSpan().SequenceEqual(ps[k].Value.Data), $"{name}: parameter {k} at {threads} threads differs from one");
            }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
