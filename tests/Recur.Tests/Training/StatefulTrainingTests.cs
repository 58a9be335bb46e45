using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Losses;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;
using Recur.Training;
using Recur.Training.Callbacks;
using Xunit.Abstractions;

namespace Recur.Tests.Training;

/// <summary>
/// Stateful truncated back-propagation through time (streams, carried detached state, reset per epoch) and the
/// engine's workspace count that shows its memory stays bounded by the window.
/// </summary>
public class StatefulTrainingTests(ITestOutputHelper output)
{
    private static SequenceModelSpec TokenSpec(int hidden = 16, CellKind cell = CellKind.Lstm, int layers = 1, double dropout = 0) => new()
    {
        Cell = cell, HiddenSize = hidden, Layers = layers, Dropout = dropout, OutputSize = 4, PerStep = true, VocabularySize = 4, EmbeddingSize = 8,
    };

    /// <summary>Random tokens 2 and 3.</summary>
    private static int[] RandomTokens(int count, ulong seed)
    {
        var random = new RecurRandom(seed);
        return Enumerable.Range(0, count).Select(_ => random.NextDouble() < 0.5 ? 2 : 3).ToArray();
    }

    [Fact]
    public void TokenStreamsLayOutContiguousStreamsWindowMajor()
    {
        int[] ids = Enumerable.Range(0, 23).ToArray(); // 2 streams of 11 tokens (one dropped), 10 targets each, windows of 4
        var data = SequenceDataset.TokenStreams(ids, streams: 2, window: 4);
        Assert.Equal(2, data.Streams);
        Assert.Equal(3, data.WindowsPerStream);
        Assert.Equal(6, data.Count);
        Assert.Equal([4, 4, 4, 4, 2, 2], data.Lengths!);
        Assert.Equal([0, 1, 2, 3], data.Tokens.AsSpan(0, 4).ToArray());        // window 0, stream 0
        Assert.Equal([11, 12, 13, 14], data.Tokens.AsSpan(4, 4).ToArray());    // window 0, stream 1
        Assert.Equal([4, 5, 6, 7], data.Tokens.AsSpan(8, 4).ToArray());        // window 1, stream 0
        Assert.Equal([19, 20], data.Tokens.AsSpan(20, 2).ToArray());           // window 2, stream 1 (short)
        Assert.Equal([20, 21], data.StepLabels.AsSpan(20, 2).ToArray());
        Assert.Equal([10, 10, 2], SequenceDataset.TokenStreams(ids, 1, 10).Lengths!); // one stream: all 22 targets
    }

    /// <summary>Runs a forward and backward of one LSTM layer under a meter: it counts exactly the buffers the kernel allocates.</summary>
    [Fact]
    public void WorkspaceCountsTheRecurrentKernelsBuffersExactly()
    {
        int T = 7, B = 3, I = 5, H = 4, G = 4;
        var random = new RecurRandom(1);
        var weights = new RecurrentLayerWeights<float>(G, I, H, Rand(G * H * I), Rand(G * H * H), Rand(G * H), Rand(G * H));
        var grads = new RecurrentLayerWeights<float>(G, I, H, new float[G * H * I], new float[G * H * H], new float[G * H], new float[G * H]);
        var x = Rand(T * B * I);
        var meter = new WorkspaceMeter();
        RecurrentLayerCache<float> cache;
        using (Workspace.Measure(meter)) cache = RecurrentLayerKernel<float, LstmCell>.Forward(weights, x, T, B, [], []);
        long cacheBytes = 4L * (cache.Hs.Length + cache.Cs.Length + cache.Saved.Length);
        Assert.Equal(4L * (2 * (T + 1) * B * H + T * B * 5 * H), cacheBytes);
        Assert.Equal(cacheBytes, meter.Current); // input projection, gate buffer and packed W_hhᵀ released
        // W_hhᵀ [H, G·H] and (backward) W_hh [G·H, H] are held packed: columns padded to whole GEMM panels.
        long packedForward = 4L * Recur.Tensors.GemmSimd.PackB(true, H, G * H, new float[G * H * H], H).Length;
        long packedBackward = 4L * Recur.Tensors.GemmSimd.PackB(false, G * H, H, new float[G * H * H], H).Length;
        Assert.Equal(cacheBytes + 4L * (T * B * G * H + B * G * H) + packedForward, meter.Peak);

        meter.Reset();
        using (Workspace.Measure(meter))
            RecurrentLayerKernel<float, LstmCell>.Backward(weights, cache, Rand(T * B * H), [], [], grads, new float[T * B * I], [], []);
        Assert.Equal(0, meter.Current);
        Assert.Equal(4L * (T * B * G * H + 5 * B * H) + packedBackward, meter.Peak); // gate gradients (shared by LSTM), five [B, H] carries, packed W_hh

        // Outside a measurement nothing is counted.
        var untouched = new WorkspaceMeter();
        RecurrentLayerKernel<float, LstmCell>.Forward(weights, x, T, B, [], []);
        Assert.Equal(0, untouched.Peak);

        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)random.Uniform(-0.5, 0.5)).ToArray();
    }

    private static TrainingHistory FitStream(int streamSteps, int window, bool stateful, int streams = 2)
    {
        var train = SequenceDataset.TokenStreams(RandomTokens(streams * (streamSteps + 1), 3), streams, window);
        var validation = SequenceDataset.TokenStreams(RandomTokens(40, 4), 1, 10);
        var model = new SequenceModel(TokenSpec(), new RecurRandom(5));
        return Trainer.Fit(model, train, validation, new TrainingOptions { Epochs = 1, BatchSize = streams, Stateful = stateful });
    }

    /// <summary>
    /// The check: training on a 10,000-step stream in windows of 100 holds no more activation memory than
    /// training on a 100-step stream, while one 10,000-step window holds about 100 times as much.
    /// </summary>
    [Fact]
    public void TruncationBoundsTheWorkspaceByTheWindowNotTheStream()
    {
        long shortStream = FitStream(100, 100, stateful: true).WorkspacePeakBytes;
        long longStream = FitStream(10_000, 100, stateful: true).WorkspacePeakBytes;
        long untruncated = FitStream(10_000, 10_000, stateful: true).WorkspacePeakBytes;
        long nonStateful = FitStream(10_000, 100, stateful: false).WorkspacePeakBytes;
        output.WriteLine($"workspace peak: 100-step stream {shortStream} B; 10,000-step stream, window 100: {longStream} B (stateful), {nonStateful} B (independent windows); one 10,000-step window: {untruncated} B ({(double)untruncated / shortStream:F1}x)");
        Assert.True(shortStream > 0);
        Assert.True(longStream <= 1.1 * shortStream + 4096, $"{longStream} vs {shortStream}");
        Assert.True(nonStateful <= 1.1 * shortStream + 4096, $"{nonStateful} vs {shortStream}");
        Assert.InRange((double)untruncated / shortStream, 80, 101);
        // Deterministic: the same training counts the same bytes.
        Assert.Equal(longStream, FitStream(10_000, 100, stateful: true).WorkspacePeakBytes);
    }

    [Fact]
    public void ConcurrentTrainingsEachCountTheirOwnWorkspace()
    {
        long small = FitStream(200, 50, stateful: true).WorkspacePeakBytes;
        long large = FitStream(200, 200, stateful: true).WorkspacePeakBytes;
        var peaks = new long[8];
        Parallel.For(0, peaks.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => peaks[i] = FitStream(200, i % 2 == 0 ? 50 : 200, stateful: true).WorkspacePeakBytes);
        for (int i = 0; i < peaks.Length; i++) Assert.Equal(i % 2 == 0 ? small : large, peaks[i]);
    }

    /// <summary>Records the state each batch starts from and the weights it starts with.</summary>
    private sealed class StateRecorder : TrainingCallback
    {
        public List<(int Epoch, int Batch, RecurrentState? State, float[][] Weights)> Batches { get; } = [];

        public override void OnBatchBegin(TrainingContext context) =>
            Batches.Add((context.Epoch, context.Batch, context.CarriedState, context.Model.Snapshot()));
    }

    [Fact]
    public void EachBatchStartsFromThePreviousBatchsFinalStateDetachedAndEveryEpochFromZeros()
    {
        var spec = TokenSpec(layers: 2);
        var train = SequenceDataset.TokenStreams(RandomTokens(3 * 61, 7), streams: 3, window: 8); // 8 windows, the last of 4 steps
        var recorder = new StateRecorder();
        var model = new SequenceModel(spec, new RecurRandom(5));
        Trainer.Fit(model, train, SequenceDataset.TokenStreams(RandomTokens(30, 8), 1, 8),
            new TrainingOptions { Epochs = 2, Stateful = true, Callbacks = [recorder] });
        Assert.Equal(2 * 8, recorder.Batches.Count);
        var replay = new SequenceModel(spec, new RecurRandom(0));
        for (int i = 0; i < recorder.Batches.Count; i++)
        {
            var (epoch, batch, state, _) = recorder.Batches[i];
            Assert.Equal(i / 8 + 1, epoch);
            if (batch == 0) { Assert.Null(state); continue; }
            Assert.NotNull(state);
            Assert.False(state.Hidden.RequiresGrad);
            Assert.False(state.Cell!.RequiresGrad);
            Assert.Equal([2, 3, 16], state.Hidden.Shape);
            // Recompute the previous batch from its weights and starting state: its final state is this one's start.
            var previous = recorder.Batches[i - 1];
            replay.Restore(previous.Weights);
            var rows = Enumerable.Range((batch - 1) * 3, 3).ToArray();
            var (_, final) = replay.ForwardWithState(Tape.Inference, train.Inputs(rows), training: false, null, previous.State);
            Assert.Equal(final.Hidden.Value.Data, state.Hidden.Value.Data);
            Assert.Equal(final.Cell!.Value.Data, state.Cell.Value.Data);
        }
    }

    [Fact]
    public void NoGradientCrossesADetachedWindowBoundary()
    {
        var spec = TokenSpec();
        var data = SequenceDataset.TokenStreams(RandomTokens(2 * 21, 9), streams: 2, window: 10);
        var window1 = data.Inputs([0, 1]);
        var window2 = data.Inputs([2, 3]);
        var (labels, mask) = data.StepLabelBatch([2, 3], window2);

        (float[][] Grads, RecurrentState First) Run(bool detach)
        {
            var model = new SequenceModel(spec, new RecurRandom(5));
            var tape = new Tape();
            var (_, first) = model.ForwardWithState(tape, window1, training: false, null, null);
            var (out2, _) = model.ForwardWithState(tape, window2, training: false, null, detach ? first.Detach() : first);
            tape.Backward(Loss.SoftmaxCrossEntropy(tape, out2, labels, mask));
            return (model.Parameters.Select(p => (float[])p.Grad.Data.Clone()).ToArray(), first);
        }
        var (detachedGrads, detachedFirst) = Run(detach: true);
        var (attachedGrads, attachedFirst) = Run(detach: false);
        // Attached, window 2's loss reaches window 1's final state; detached, nothing reaches it.
        Assert.True(attachedFirst.Hidden.HasGrad && attachedFirst.Hidden.Grad.Data.Any(g => g != 0));
        Assert.True(!detachedFirst.Hidden.HasGrad || detachedFirst.Hidden.Grad.Data.All(g => g == 0));
        Assert.True(!detachedFirst.Cell!.HasGrad || detachedFirst.Cell.Grad.Data.All(g => g == 0));

        // Detached gradients are exactly those of window 2 alone, started from window 1's state as a constant.
        var alone = new SequenceModel(spec, new RecurRandom(5));
        var (_, state) = alone.ForwardWithState(Tape.Inference, window1, training: false, null, null);
        var tape = new Tape();
        var (output2, _) = alone.ForwardWithState(tape, window2, training: false, null, state);
        tape.Backward(Loss.SoftmaxCrossEntropy(tape, output2, labels, mask));
        for (int p = 0; p < detachedGrads.Length; p++) Assert.Equal(alone.Parameters[p].Grad.Data, detachedGrads[p]);
        Assert.NotEqual(attachedGrads[2], detachedGrads[2]); // weight_hh_l0's gradient differs when attached
    }

    /// <summary>
    /// Stateful scoring of one stream in windows equals one forward over the whole stream: carrying the state is
    /// exactly running on.
    /// </summary>
    [Fact]
    public void StatefulScoringInWindowsEqualsOneForwardOverTheWholeStream()
    {
        var ids = RandomTokens(301, 11);
        var model = new SequenceModel(TokenSpec(cell: CellKind.Gru, layers: 2), new RecurRandom(3));
        double windowed = Trainer.Loss(model, SequenceDataset.TokenStreams(ids, 1, 32), 1, stateful: true);
        double whole = Trainer.Loss(model, SequenceDataset.TokenStreams(ids, 1, 300), 1, stateful: true);
        double independent = Trainer.Loss(model, SequenceDataset.TokenStreams(ids, 1, 32), 1, stateful: false);
        Assert.Equal(whole, windowed, 5);
        Assert.NotEqual(whole, independent, 5);
    }

    /// <summary>
    /// A copy task across window boundaries: the target at every step is the previous step's input, so a window's
    /// first target is the last input of the window before — learnable only when the state carries over.
    /// </summary>
    [Fact]
    public void ACopyAcrossTheWindowBoundaryIsLearnedOnlyStatefully()
    {
        const int streams = 8, length = 160, window = 4;
        var source = RandomTokens(streams * length, 13);
        var tokens = new int[streams * length];
        var labels = new int[streams * length];
        int windows = length / window;
        for (int s = 0; s < streams; s++)
            for (int t = 0; t < length; t++)
            {
                int row = (t / window) * streams + s, at = row * window + t % window;
                tokens[at] = source[s * length + t];
                labels[at] = t == 0 ? 2 : source[s * length + t - 1];
            }
        var data = SequenceDataset.PerStep(null, tokens, windows * streams, window, 0, labels, null).WithStreams(streams);
        double FinalLoss(bool stateful)
        {
            var model = new SequenceModel(TokenSpec(), new RecurRandom(5));
            var history = Trainer.Fit(model, data, data, new TrainingOptions
            {
                Epochs = 12, BatchSize = streams, LearningRate = 0.02, Stateful = stateful, Seed = 1,
            });
            return history.Epochs[^1].TrainLoss;
        }
        double stateful = FinalLoss(true), independent = FinalLoss(false);
        output.WriteLine($"copy across the boundary, last-epoch training loss: stateful {stateful:F4}, independent windows {independent:F4} (floor ln 2 / {window} = {Math.Log(2) / window:F4})");
        Assert.True(stateful < 0.05, $"stateful {stateful}");
        Assert.True(independent > 0.9 * Math.Log(2) / window, $"independent {independent}");
    }

    [Fact]
    public void StatefulTrainingRefusesDataThatAreNotStreams()
    {
        var data = SequenceDataset.PerStep(null, RandomTokens(40, 1), 4, 10, 0, RandomTokens(40, 2), null);
        var model = new SequenceModel(TokenSpec(), new RecurRandom(5));
        Assert.Throws<ArgumentException>(() => Trainer.Fit(model, data, data, new TrainingOptions { Stateful = true }));
    }
}
