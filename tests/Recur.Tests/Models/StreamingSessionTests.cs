using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Models;

/// <summary>
/// Batch-1 streaming (<see cref="StreamingSession"/>, and <see cref="SequenceModel.Continue"/>'s one-step path
/// through it) against the general whole-sequence path (<see cref="SequenceModel.ForwardWithState"/> at inference,
/// which is what Continue ran before): bit-identical outputs and states, step after step; no allocation per step;
/// models that cannot stream refused.
/// </summary>
public class StreamingSessionTests
{
    private const int StreamSteps = 200;

    public static TheoryData<CellKind, int, bool, bool, double> StreamingCases()
    {
        var cases = new TheoryData<CellKind, int, bool, bool, double>();
        foreach (var cell in new[] { CellKind.Lstm, CellKind.Gru, CellKind.Rnn })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool tokens in new[] { false, true })
                    foreach (bool layerNorm in new[] { false, true })
                        foreach (double zoneout in new[] { 0.0, 0.3 })
                            cases.Add(cell, layers, tokens, layerNorm, zoneout);
        return cases;
    }

    private static SequenceModel Model(CellKind cell, int layers, bool tokens, bool layerNorm, double zoneout,
        bool residual = false, bool perStep = false, ulong seed = 11)
    {
        var model = new SequenceModel(new SequenceModelSpec
        {
            Cell = cell, InputSize = 5, HiddenSize = 12, Layers = layers, OutputSize = 3, LayerNorm = layerNorm, Zoneout = zoneout,
            Residual = residual, PerStep = perStep, VocabularySize = tokens ? 9 : 0, EmbeddingSize = 6,
            // Dropout of every kind must be off at inference, in both paths.
            Dropout = 0.2, InputDropout = 0.2, RecurrentDropout = 0.2, LayerDropout = 0.2,
        }, new RecurRandom(seed));
        // Every parameter random, layer-norm gains and biases and the head's bias included, so each one matters.
        var random = new RecurRandom(seed + 1);
        foreach (var p in model.Parameters)
            for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] = (float)(0.5 * random.Normal());
        return model;
    }

    /// <summary>One step of one sequence: token id or features [1, 1, F].</summary>
    private static SequenceBatch OneStep(SequenceModel model, RecurRandom random, out int token, out float[] features)
    {
        token = 1 + (int)(random.NextDouble() * (model.Spec.VocabularySize - 1));
        features = Enumerable.Range(0, model.Spec.InputSize).Select(_ => (float)random.Normal()).ToArray();
        return model.Spec.VocabularySize > 0
            ? new SequenceBatch(1, 1, null, [token])
            : new SequenceBatch(1, 1, new Tensor((float[])features.Clone(), 1, 1, model.Spec.InputSize), null);
    }

    /// <summary>
    /// Streams <see cref="StreamSteps"/> random steps three ways — a session, Continue one step at a time, and the
    /// general path — and asserts every step's outputs and states are equal bit for bit.
    /// </summary>
    private static void AssertStreamsMatch(SequenceModel model, ulong seed)
    {
        var random = new RecurRandom(seed);
        var session = model.StartStreaming();
        RecurrentState? continued = null, reference = null;
        var output = new float[model.Spec.OutputSize];
        for (int step = 0; step < StreamSteps; step++)
        {
            var batch = OneStep(model, random, out int token, out float[] features);
            var (expected, expectedState) = model.ForwardWithState(Tape.Inference, batch, training: false, null, reference);
            reference = expectedState;
            if (session.ReadsTokens) session.Step(token, output);
            else session.Step(features, output);
            (float[] viaContinue, continued) = model.Continue(batch, continued);

            Assert.Equal(expected.Value.Data, output);
            Assert.Equal(expected.Value.Data, viaContinue);
            Assert.Equal(reference.Hidden.Value.Data, session.Hidden.ToArray());
            Assert.Equal(reference.Hidden.Value.Data, continued.Hidden.Value.Data);
            if (reference.Cell is null)
            {
                Assert.True(session.Cell.IsEmpty);
                Assert.Null(continued.Cell);
            }
            else
            {
                Assert.Equal(reference.Cell.Value.Data, session.Cell.ToArray());
                Assert.Equal(reference.Cell.Value.Data, continued.Cell!.Value.Data);
            }
        }
        Assert.Equal(StreamSteps, session.Steps);
        // The state did move: a stream that had stayed at zero would prove little.
        Assert.Contains(session.Hidden.ToArray(), v => v != 0);
    }

    [Theory]
    [MemberData(nameof(StreamingCases))]
    public void StreamingMatchesTheGeneralPathBitForBit(CellKind cell, int layers, bool tokens, bool layerNorm, double zoneout) =>
        AssertStreamsMatch(Model(cell, layers, tokens, layerNorm, zoneout), seed: 21);

    [Theory]
    [InlineData(CellKind.Lstm)]
    [InlineData(CellKind.Gru)]
    [InlineData(CellKind.Rnn)]
    public void ResidualPerStepStacksStreamBitForBit(CellKind cell) =>
        AssertStreamsMatch(Model(cell, layers: 3, tokens: false, layerNorm: false, zoneout: 0.1, residual: true, perStep: true), seed: 22);

    [Fact]
    public void ASessionContinuesFromAStateThatContinueReturned()
    {
        // As `recur generate`: a prompt read as one chunk, then one token per step.
        var model = Model(CellKind.Lstm, layers: 2, tokens: true, layerNorm: false, zoneout: 0);
        int[] prompt = [3, 1, 4, 1, 5, 2, 6];
        var (_, afterPrompt) = model.Continue(new SequenceBatch(1, prompt.Length, null, prompt), null);
        var session = model.StartStreaming();
        session.State = afterPrompt;
        Assert.Equal(afterPrompt.Hidden.Value.Data, session.State.Hidden.Value.Data);
        var state = afterPrompt;
        foreach (int token in new[] { 7, 8, 2, 2, 5 })
        {
            var (expected, next) = model.ForwardWithState(Tape.Inference, new SequenceBatch(1, 1, null, [token]), training: false, null, state);
            state = next;
            Assert.Equal(expected.Value.Data, session.Step(token).ToArray());
            Assert.Equal(state.Hidden.Value.Data, session.State.Hidden.Value.Data);
            Assert.Equal(state.Cell!.Value.Data, session.State.Cell!.Value.Data);
        }

        session.Reset();
        Assert.All(session.Hidden.ToArray(), v => Assert.Equal(0, v));
        Assert.All(session.Cell.ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(0, session.Steps);
    }

    [Theory]
    [InlineData(CellKind.Lstm, false)]
    [InlineData(CellKind.Lstm, true)]
    [InlineData(CellKind.Gru, true)]
    [InlineData(CellKind.Rnn, false)]
    public void AStepAllocatesNothing(CellKind cell, bool tokens)
    {
        var model = Model(cell, layers: 2, tokens, layerNorm: true, zoneout: 0.2, residual: true);
        var session = model.StartStreaming();
        float[] features = [0.1f, -0.2f, 0.3f, 0.5f, -1f];
        var output = new float[model.Spec.OutputSize];
        void Step(int i)
        {
            if (tokens) session.Step(1 + i % 8, output);
            else session.Step(features, output);
        }
        // The first calls make the GEMM's per-thread driver; the rest let tiered compilation settle. Once seen to fail
        // in a full parallel run, never alone or under load.
        AllocationWarmUp.Run(Step, minCalls: 50);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) Step(i);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    public static TheoryData<string, SequenceModelSpec> UnstreamableModels() => new()
    {
        { "bidirectional", new SequenceModelSpec { InputSize = 3, HiddenSize = 8, Bidirectional = true } },
        { "attention pooling", new SequenceModelSpec { InputSize = 3, HiddenSize = 8, Attention = AttentionKind.Dot } },
        { "attention decoder", new SequenceModelSpec { InputSize = 3, HiddenSize = 8, OutputSize = 4, DecoderAttention = AttentionKind.Additive } },
    };

    [Theory]
    [MemberData(nameof(UnstreamableModels))]
    public void ModelsThatCannotStreamAreRefusedButStillContinue(string what, SequenceModelSpec spec)
    {
        var model = new SequenceModel(spec, new RecurRandom(5));
        Assert.NotNull(model.StreamingRefusal);
        var refused = Assert.Throws<NotSupportedException>(() => model.StartStreaming());
        Assert.Contains("cannot be run one step at a time", refused.Message);
        Assert.Contains(what.Split(' ')[^1], refused.Message);

        // Continue still serves them one step at a time, through the general path.
        var batch = new SequenceBatch(1, 1, new Tensor([0.5f, -0.5f, 1f], 1, 1, 3), null);
        var (expected, _) = model.ForwardWithState(Tape.Inference, batch, training: false, null, null);
        var (outputs, _) = model.Continue(batch, null);
        Assert.Equal(expected.Value.Data, outputs);
    }

    [Fact]
    public void MisuseIsReportedWithTheExpectedShape()
    {
        var numeric = Model(CellKind.Gru, layers: 2, tokens: false, layerNorm: false, zoneout: 0);
        var session = numeric.StartStreaming();
        var output = new float[3];
        var features = Assert.Throws<ArgumentException>(() => session.Step(new float[4], output));
        Assert.Contains("Expected 5 features", features.Message);
        Assert.Throws<ArgumentException>(() => session.Step(new float[5], new float[2]));
        Assert.Throws<InvalidOperationException>(() => session.Step(1, output));
        var shape = Assert.Throws<ArgumentException>(() => session.State = new RecurrentState(new Variable(new Tensor(2, 2, 12)), null));
        Assert.Contains("[2, 1, 12]", shape.Message);
        Assert.Throws<ArgumentException>(() => session.State = new RecurrentState(new Variable(new Tensor(2, 1, 12)), new Variable(new Tensor(2, 1, 12))));

        var tokenSession = Model(CellKind.Lstm, layers: 1, tokens: true, layerNorm: false, zoneout: 0).StartStreaming();
        Assert.Throws<InvalidOperationException>(() => tokenSession.Step(new float[5], output));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenSession.Step(9, output));
    }
}
