using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// Inference over a layer stack as a wavefront over (layer, chunk of steps) (<see cref="StackWavefront{T, TCell}"/>)
/// against running the stack layer by layer: outputs (time-major and batch-major) and final states bit for bit, at 1,
/// 2 and 3 threads (one worker alone, as many as layers, more than layers), with padded sequences (lengths 0 … T),
/// given initial states, inference zoneout, 2 and 3 layers, a chunk count that wraps the projection ring and a
/// shorter last chunk, and sizes that are no multiple of any vector width.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class StackWavefrontTests
{
    // Chunks of 3 steps: 8 chunks, the last of 2 steps; the ring of 3 chunk buffers is reused.
    private const int Steps = 23, Batch = 37, Input = 5, Hidden = 45, ChunkSteps = 3;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void LstmWavefrontGivesTheBitsOfTheLayerByLayerPass(int layers) => CheckAgainstLayerByLayer<LstmCell>(layers);

    [Fact] public void GruWavefrontGivesTheBitsOfTheLayerByLayerPass() => CheckAgainstLayerByLayer<GruCell>(3);

    [Fact] public void RnnWavefrontGivesTheBitsOfTheLayerByLayerPass() => CheckAgainstLayerByLayer<RnnCell>(2);

    private static void CheckAgainstLayerByLayer<TCell>(int layers) where TCell : IRecurrentCell
    {
        var h = RecurrentHarness<double, TCell>.Random(Steps, Batch, Input, Hidden, layers, seed: 83).Convert<float>();
        h.Lengths = Lengths();
        Assert.Contains(0, h.Lengths);
        var zoneout = new RecurrentLayerOptions<float> { Zoneout = 0.2 }; // inference's zoneout: its expectation
        var options = Enumerable.Range(0, layers).Select(l => l == 1 ? zoneout : null).ToList();
        var (output, batchMajor, finalHidden, finalCell) = Infer(h, options, threads: 1, wavefront: false);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var wave = Infer(h, options, threads, wavefront: true);
            Assert.Equal(output, wave.Output);
            Assert.Equal(batchMajor, wave.BatchMajor);
            Assert.Equal(finalHidden, wave.FinalHidden);
            Assert.Equal(finalCell, wave.FinalCell);
        }
        // Against the split at the thread counts that take it too, so the reference is not one thread's path only.
        Assert.Equal(output, Infer(h, options, threads: 2, wavefront: false).Output);
    }

    private static (float[] Output, float[] BatchMajor, float[] FinalHidden, float[] FinalCell) Infer<TCell>(
        RecurrentHarness<float, TCell> h, List<RecurrentLayerOptions<float>?> options, int threads, bool wavefront)
        where TCell : IRecurrentCell
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = threads;
            StackWavefront<float, TCell>.Forced = wavefront;
            StackWavefront<float, TCell>.ForcedChunkSteps = ChunkSteps;
            var timeMajor = RecurrentStackKernel<float, TCell>.Forward(h.Weights, h.X, Steps, Batch, h.H0, h.C0, h.Lengths, options,
                keepForBackward: false);
            var batchMajor = new float[Batch * Steps * Hidden];
            var toCaller = RecurrentStackKernel<float, TCell>.Forward(h.Weights, h.X, Steps, Batch, h.H0, h.C0, h.Lengths, options,
                keepForBackward: false, batchMajorOutput: batchMajor);
            Assert.Equal(timeMajor.FinalHidden, toCaller.FinalHidden);
            return (timeMajor.Output.ToArray(), batchMajor, timeMajor.FinalHidden, timeMajor.FinalCell);
        }
        finally
        {
            Engine.Threads = saved;
            StackWavefront<float, TCell>.Forced = null;
            StackWavefront<float, TCell>.ForcedChunkSteps = null;
        }
    }

    [Fact] public void LstmTrainingWavefrontGivesTheBitsOfTheLayerByLayerPass() => CheckTraining<LstmCell>();
    [Fact] public void GruTrainingWavefrontGivesTheBitsOfTheLayerByLayerPass() => CheckTraining<GruCell>();

    /// <summary>
    /// A forward pass kept for backward, with dropout masks and zoneout, then the backward pass: outputs and every
    /// gradient bit for bit (the backward pass reads the same cache). The time-major split is forced, as a model of
    /// this size splits part-major, which the wavefront does not feed.
    /// </summary>
    private static void CheckTraining<TCell>() where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(Steps, Batch, Input, Hidden, layers: 2, seed: 87);
        reference.Lengths = Lengths();
        reference.Options = RecurrentRegularizationTests.Masks(reference, 0.2, 0.3, 0.15);
        var h = reference.Convert<float>();
        int saved = Engine.Threads;
        try
        {
            RecurrentLayerKernel<float, TCell>.PartMajorLayout = false;
            StackWavefront<float, TCell>.ForcedChunkSteps = ChunkSteps;
            (float[] Output, List<(string Name, float[] Value, float[] Grad)> Gradients) Run(int threads, bool wavefront)
            {
                Engine.Threads = threads;
                StackWavefront<float, TCell>.Forced = wavefront;
                return (h.Forward().Output.ToArray(), h.Named(h.Backward()).ToList());
            }
            var (output, gradients) = Run(2, wavefront: false);
            foreach (int threads in new[] { 1, 2 })
            {
                var wave = Run(threads, wavefront: true);
                Assert.Equal(output, wave.Output);
                for (int i = 0; i < gradients.Count; i++)
                    Assert.True(gradients[i].Grad.AsSpan().SequenceEqual(wave.Gradients[i].Grad),
                        $"{TCell.DisplayName} d/d{gradients[i].Name} differs after the wavefront's forward pass at {threads} thread(s)");
            }
        }
        finally
        {
            Engine.Threads = saved;
            RecurrentLayerKernel<float, TCell>.PartMajorLayout = null;
            StackWavefront<float, TCell>.Forced = null;
            StackWavefront<float, TCell>.ForcedChunkSteps = null;
        }
    }

    private static int[] Lengths() => Enumerable.Range(0, Batch).Select(b => b % 4 == 0 ? Steps : b == 3 ? 0 : b * 5 % (Steps + 1)).ToArray();

    [Fact]
    public void TheWavefrontRunsForStacksWithNoMoreThreadsThanLayers()
    {
        var b = RecurrentHarness<double, LstmCell>.Random(steps: 1, batch: 1, input: 32, hidden: 256, layers: 3, seed: 1).Convert<float>().Weights;
        int saved = Engine.Threads, processors = StepLayout.Processors;
        try
        {
            Engine.Threads = 2;
            StepLayout.Processors = 2; // so a small model's split is part-major on any machine
            // Config b (T100 B64): chunks of 8 steps; shorter ones where those would be fewer than 8, but of at least 256
            // rows (4 steps of 64 sequences, 16 of 16).
            Assert.Equal(8, StackWavefront<float, LstmCell>.ChunkSteps(b.Take(2).ToList(), 100, 64, keepForBackward: false));
            Assert.Equal(8, StackWavefront<float, LstmCell>.ChunkSteps(b, 100, 64, keepForBackward: false));
            Assert.Equal(5, StackWavefront<float, LstmCell>.ChunkSteps(b, 40, 64, keepForBackward: false));
            Assert.Equal(16, StackWavefront<float, LstmCell>.ChunkSteps(b, 200, 16, keepForBackward: false));
            // Training too, where the batch split is time-major (H = 256), which its backward pass reads; not where it is
            // part-major (H = 64).
            Assert.Equal(8, StackWavefront<float, LstmCell>.ChunkSteps(b, 100, 64, keepForBackward: true));
            var small = RecurrentHarness<double, LstmCell>.Random(1, 1, 8, 64, 2, seed: 1).Convert<float>().Weights;
            Assert.Equal(8, StackWavefront<float, LstmCell>.ChunkSteps(small, 100, 64, keepForBackward: false));
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(small, 100, 64, keepForBackward: true));
            // Too few chunks to fill the pipeline; a single layer; double (no packed products).
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(b, 31, 64, keepForBackward: false));
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(b.Take(1).ToList(), 100, 64, keepForBackward: false));
            Assert.Equal(0, StackWavefront<double, LstmCell>.ChunkSteps(
                RecurrentHarness<double, LstmCell>.Random(1, 1, 32, 256, 2, seed: 1).Weights, 100, 64, keepForBackward: false));
            // Layer norm (its statistics run over all steps first).
            var normalised = RecurrentHarness<double, LstmCell>.Random(1, 1, 32, 64, 2, seed: 1, layerNorm: true).Convert<float>().Weights;
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(normalised, 100, 64, keepForBackward: false));
            // W_hh over 4 MiB (H = 1024): its product splits by columns over all threads instead.
            var large = RecurrentHarness<double, LstmCell>.Random(1, 1, 8, 1024, 2, seed: 1).Convert<float>().Weights;
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(large, 100, 64, keepForBackward: false));
            // More threads than layers serve the batch split better; one thread has nothing to pipeline.
            Engine.Threads = 3;
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(b.Take(2).ToList(), 100, 64, keepForBackward: false));
            Assert.Equal(8, StackWavefront<float, LstmCell>.ChunkSteps(b, 100, 64, keepForBackward: false));
            Engine.Threads = 1;
            Assert.Equal(0, StackWavefront<float, LstmCell>.ChunkSteps(b, 100, 64, keepForBackward: false));
        }
        finally
        {
            Engine.Threads = saved;
            StepLayout.Processors = processors;
        }
    }

    [Fact]
    public void AChunkedPassRefusesLayerNorm()
    {
        var h = RecurrentHarness<double, LstmCell>.Random(Steps, Batch, Input, Hidden, layers: 1, seed: 5, layerNorm: true).Convert<float>();
        var error = Assert.Throws<ArgumentException>(() => RecurrentLayerKernel<float, LstmCell>.Prepare(h.Weights[0], h.X, Steps, Batch,
            [], [], [], null, keepForBackward: false, batchMajorOutput: null, chunkSteps: ChunkSteps));
        Assert.Contains("normalise", error.Message);
    }
}
