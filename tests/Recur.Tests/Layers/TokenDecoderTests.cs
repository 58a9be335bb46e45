using Recur.Autograd;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Tests.Layers;

/// <summary>
/// The token decoder of a sequence-to-sequence model: its float forward and tape gradients against the independent
/// double reference and its double finite differences (padded sources and targets, a fixed scheduled-sampling
/// pattern whose fed tokens are argmaxes), and greedy decoding and beam search against the teacher-forced model.
/// </summary>
public class TokenDecoderTests
{
    private const int B = 3, T = 5, U = 4, SourceVocabulary = 7, TargetVocabulary = 6;
    private static readonly int[] Lengths = [5, 2, 4], TargetLengths = [4, 2, 3];

    private static (SequenceModel Model, SequenceDataset Data) Setup(CellKind cell, AttentionKind kind, ulong seed)
    {
        var spec = new SequenceModelSpec
        {
            Cell = cell, HiddenSize = 5, EmbeddingSize = 3, VocabularySize = SourceVocabulary, TargetVocabularySize = TargetVocabulary,
            OutputSize = TargetVocabulary, DecoderAttention = kind,
        };
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var rng = new RecurRandom(seed + 1);
        var source = new int[B * T];
        var targets = new int[B * U];
        for (int b = 0; b < B; b++)
        {
            for (int t = 0; t < Lengths[b]; t++) source[b * T + t] = 2 + (int)(rng.NextDouble() * (SourceVocabulary - 2));
            for (int s = 0; s < TargetLengths[b] - 1; s++) targets[b * U + s] = 2 + (int)(rng.NextDouble() * (TargetVocabulary - 4));
            targets[b * U + TargetLengths[b] - 1] = TargetVocabulary - 1; // the end token
        }
        return (model, SequenceDataset.SequenceToSequence(source, B, T, Lengths, targets, U, TargetLengths));
    }

    private static SequenceBatch AllRows(SequenceDataset data) => data.Inputs(Enumerable.Range(0, B).ToArray());

    [Theory]
    [InlineData(CellKind.Lstm, AttentionKind.Dot)]
    [InlineData(CellKind.Gru, AttentionKind.Additive)]
    public void TheTokenDecoderMatchesADoubleReferenceAndItsFiniteDifferences(CellKind cell, AttentionKind kind)
    {
        var (model, data) = Setup(cell, kind, 51);
        var teacher = Enumerable.Range(0, B * U).Select(i => i % 3 != 1).ToArray();
        var batch = AllRows(data) with { DecoderTeacherChoices = teacher };
        Assert.Equal(U, batch.DecoderSteps);
        var tape = new Tape();
        var logits = model.Forward(tape, batch, training: true, new RecurRandom(1));
        Assert.Equal([B, U, TargetVocabulary], logits.Value.Shape);

        var reference = new AttentionDecoderReference(model);
        var source = Enumerable.Range(0, B).Select(b => batch.Tokens!.AsSpan(b * T, T).ToArray()).ToArray();
        var targets = Enumerable.Range(0, B).Select(b => batch.DecoderTokens!.AsSpan(b * U, U).ToArray()).ToArray();
        var (expected, fed) = reference.Translate(source, Lengths, targets, teacher, U);
        double forwardError = GradientCheck.RelativeError(logits.Value.Data, expected.SelectMany(r => r.SelectMany(y => y)).ToArray());
        Assert.True(forwardError < 1e-6, $"forward: relative error {forwardError:E2}");

        // The loss the trainer uses: mean cross-entropy over the real target steps.
        var mask = new Tensor(B, U);
        for (int b = 0; b < B; b++) mask.Data.AsSpan(b * U, TargetLengths[b]).Fill(1f);
        var loss = Recur.Losses.Loss.SoftmaxCrossEntropy(tape, logits, batch.DecoderTokens!, mask);
        tape.Backward(loss);
        double Loss()
        {
            var (y, _) = reference.Translate(source, Lengths, targets, teacher, U, fed);
            double sum = 0;
            for (int b = 0; b < B; b++)
                for (int s = 0; s < TargetLengths[b]; s++)
                {
                    double max = y[b][s].Max();
                    sum += max + Math.Log(y[b][s].Sum(v => Math.Exp(v - max))) - y[b][s][targets[b][s]];
                }
            return sum / TargetLengths.Sum();
        }
        Assert.Equal(Loss(), loss.Value.Data[0], 5);
        var report = new List<string>();
        double worst = 0;
        foreach (var p in model.Parameters)
        {
            var numeric = GradientCheck.Numeric(Loss, reference.Parameters[p.Name]);
            double error = GradientCheck.RelativeError(p.Grad.Data, numeric);
            worst = Math.Max(worst, error);
            report.Add($"{p.Name}: relative error {error:E2}, |g| {Math.Sqrt(numeric.Sum(g => g * g)):E2}");
        }
        Assert.Contains(model.Parameters, p => p.Name == "decoder_embedding.weight");
        // As for the value decoder (AttentionDecoderTests): double differences are exact to ~1e-9, so this bounds the
        // tape's float32 rounding; a wrong or missing term shows as O(1e-2) or more.
        Assert.True(worst < 3e-5, string.Join("\n", report));
    }

    [Theory]
    [InlineData(AttentionKind.Dot)]
    [InlineData(AttentionKind.Additive)]
    public void GreedyEqualsBeamOfOneAndEachScoreIsTheTeacherForcedLogProbability(AttentionKind kind)
    {
        var (model, data) = Setup(CellKind.Lstm, kind, 52);
        var batch = AllRows(data);
        const int maxSteps = 6;
        var greedy = TokenDecoding.Greedy(model, batch, maxSteps);
        var beamOne = TokenDecoding.Beam(model, batch, 1, maxSteps);
        var beamThree = TokenDecoding.Beam(model, batch, 3, maxSteps);
        for (int b = 0; b < B; b++)
        {
            Assert.Equal(greedy[b].Tokens, beamOne[b].Tokens);
            // Greedy runs the batch together and beam search one sequence at a time: float rounding differs slightly.
            Assert.Equal(greedy[b].Score, beamOne[b].Score, 5);
            foreach (var decoded in new[] { greedy[b], beamThree[b] })
            {
                Assert.DoesNotContain(0, decoded.Tokens);
                Assert.DoesNotContain(TargetVocabulary - 2, decoded.Tokens);
                Assert.DoesNotContain(TargetVocabulary - 1, decoded.Tokens);
                Assert.Equal(decoded.Attention.Length, Math.Min(decoded.Tokens.Length + 1, maxSteps));
                foreach (var weights in decoded.Attention)
                {
                    Assert.Equal(Lengths[b], weights.Length);
                    Assert.Equal(1.0, weights.Sum(w => (double)w), 5);
                }
                Assert.Equal(TeacherForcedScore(model, batch, b, decoded), decoded.Score, 5);
            }
        }
    }

    /// <summary>
    /// The mean log-probability of a decoded sequence (its tokens, then the end token when it finished) under the
    /// teacher-forced model, with padding and the start token excluded from each softmax as decoding excludes them.
    /// </summary>
    private static double TeacherForcedScore(SequenceModel model, SequenceBatch batch, int b, DecodedSequence decoded)
    {
        int steps = decoded.Attention.Length, V = TargetVocabulary;
        var targets = decoded.Tokens.Append(V - 1).Take(steps).ToArray();
        var single = new SequenceBatch(1, Lengths[b], null, batch.Tokens!.AsSpan(b * T, Lengths[b]).ToArray())
        {
            DecoderTokens = targets, DecoderSteps = steps, DecoderLengths = [steps],
        };
        var logits = model.Forward(Tape.Inference, single, training: false, null).Value.Data;
        double sum = 0;
        for (int s = 0; s < steps; s++)
        {
            var row = logits.AsSpan(s * V, V).ToArray().Select((v, i) => i == 0 || i == V - 2 ? double.NegativeInfinity : v).ToArray();
            double max = row.Max();
            sum += row[targets[s]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
        }
        return sum / steps;
    }
}
