using Recur.Autograd;

namespace Recur.Models;

/// <summary>One decoded target: its ids (without the end token), their mean log-probability, and the attention weights over the source's real steps at each output step.</summary>
public sealed record DecodedSequence(int[] Tokens, double Score, float[][] Attention);

/// <summary>
/// Inference of a token decoder (<see cref="SequenceModelSpec.TargetVocabularySize"/>): greedy decoding and beam
/// search, each stopping at the end token or after a maximum number of steps. Neither ever emits the padding id or
/// the start token.
/// </summary>
public static class TokenDecoding
{
    /// <summary>
    /// Greedy: every sequence of the batch in parallel, each step feeding back its most probable token, until every
    /// sequence has emitted the end token or <paramref name="maxSteps"/> steps ran (an unfinished one keeps what it has).
    /// </summary>
    public static DecodedSequence[] Greedy(SequenceModel model, SequenceBatch batch, int maxSteps)
    {
        var (decoder, memory, state) = model.StartDecoding(batch);
        int B = batch.Batch, V = decoder.TargetVocabulary;
        var tokens = Enumerable.Range(0, B).Select(_ => new List<int>()).ToArray();
        var attention = Enumerable.Range(0, B).Select(_ => new List<float[]>()).ToArray();
        var logProbability = new double[B];
        var done = new bool[B];
        var previous = Enumerable.Repeat(decoder.StartToken, B).ToArray();
        var tape = Tape.Inference;
        for (int s = 0; s < maxSteps && done.Contains(false); s++)
        {
            (var logits, state, var weights) = decoder.Step(tape, memory, state, decoder.Embed(tape, previous));
            var next = new int[B];
            for (int b = 0; b < B; b++)
            {
                if (done[b]) { next[b] = decoder.EndToken; continue; }
                var scores = LogSoftmax(logits.Value.Data.AsSpan(b * V, V), decoder.StartToken);
                int best = 0;
                for (int v = 1; v < V; v++) if (scores[v] > scores[best]) best = v;
                logProbability[b] += scores[best];
                attention[b].Add(Weights(weights, b, memory));
                if (best == decoder.EndToken) done[b] = true;
                else tokens[b].Add(best);
                next[b] = best;
            }
            previous = next;
        }
        return Enumerable.Range(0, B).Select(b => new DecodedSequence([.. tokens[b]], logProbability[b] / Math.Max(1, attention[b].Count), [.. attention[b]])).ToArray();
    }

    /// <summary>
    /// Beam search of width <paramref name="beam"/> for each sequence of the batch: at every step each live
    /// hypothesis is extended by every token and the <paramref name="beam"/> best by total log-probability are kept;
    /// a hypothesis that emits the end token is finished. Stops once <paramref name="beam"/> hypotheses have finished
    /// or after <paramref name="maxSteps"/> steps; the result is the finished (else live) hypothesis with the best
    /// length-normalised score, log P / steps (the end token counted), so that short outputs are not favoured merely
    /// for having fewer factors below 1.
    /// </summary>
    public static DecodedSequence[] Beam(SequenceModel model, SequenceBatch batch, int beam, int maxSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(beam, 1);
        var (decoder, memory, state) = model.StartDecoding(batch);
        var result = new DecodedSequence[batch.Batch];
        for (int b = 0; b < batch.Batch; b++) result[b] = Search(decoder, memory.Rows([b]), state.Rows([b]), beam, maxSteps);
        return result;
    }

    private sealed record Hypothesis(int[] Tokens, double LogProbability, float[][] Attention);

    private static DecodedSequence Search(AttentionDecoder decoder, DecoderMemory single, DecoderState state, int beam, int maxSteps)
    {
        int V = decoder.TargetVocabulary;
        var tape = Tape.Inference;
        var live = new List<Hypothesis> { new([], 0, []) };
        var finished = new List<Hypothesis>();
        for (int s = 0; s < maxSteps && live.Count > 0 && finished.Count < beam; s++)
        {
            var memory = single.Rows(new int[live.Count]);
            var previous = live.Select(h => h.Tokens.Length == 0 ? decoder.StartToken : h.Tokens[^1]).ToArray();
            (var logits, state, var weights) = decoder.Step(tape, memory, state, decoder.Embed(tape, previous));
            var candidates = new List<(int From, int Token, double LogProbability)>();
            for (int i = 0; i < live.Count; i++)
            {
                var scores = LogSoftmax(logits.Value.Data.AsSpan(i * V, V), decoder.StartToken);
                // Only a hypothesis's own best `beam` tokens can be among the best `beam` extensions overall.
                foreach (int v in Enumerable.Range(0, V).OrderByDescending(v => scores[v]).ThenBy(v => v).Take(beam))
                    candidates.Add((i, v, live[i].LogProbability + scores[v]));
            }
            var next = new List<Hypothesis>();
            var rows = new List<int>();
            int rank = 0;
            foreach (var (from, token, logP) in candidates.OrderByDescending(c => c.LogProbability).ThenBy(c => c.From).ThenBy(c => c.Token))
            {
                if (rank++ >= beam || next.Count == beam) break;
                var h = live[from];
                var extended = new Hypothesis([.. h.Tokens, token], logP, [.. h.Attention, Weights(weights, from, memory)]);
                if (token == decoder.EndToken) finished.Add(extended with { Tokens = h.Tokens });
                else { next.Add(extended); rows.Add(from); }
            }
            live = next;
            state = state.Rows([.. rows]);
        }
        var pool = finished.Count > 0 ? finished : live;
        var best = pool.OrderByDescending(h => h.LogProbability / Math.Max(1, h.Attention.Length)).First();
        return new DecodedSequence(best.Tokens, best.LogProbability / Math.Max(1, best.Attention.Length), best.Attention);
    }

    /// <summary>Log-softmax of one row of logits in double, with padding (id 0) and the start token excluded (−∞).</summary>
    private static double[] LogSoftmax(ReadOnlySpan<float> logits, int startToken)
    {
        var result = new double[logits.Length];
        double max = double.NegativeInfinity, sum = 0;
        for (int v = 1; v < logits.Length; v++) if (v != startToken) max = Math.Max(max, logits[v]);
        for (int v = 1; v < logits.Length; v++) if (v != startToken) sum += Math.Exp(logits[v] - max);
        double log = max + Math.Log(sum);
        for (int v = 0; v < logits.Length; v++) result[v] = v == 0 || v == startToken ? double.NegativeInfinity : logits[v] - log;
        return result;
    }

    /// <summary>Row b of attention weights [B, T], cut to that row's real steps.</summary>
    private static float[] Weights(float[] weights, int b, DecoderMemory memory)
    {
        int T = memory.Outputs.Value.Dim(1), length = memory.Lengths.Length == 0 ? T : memory.Lengths[b];
        return weights.AsSpan(b * T, length).ToArray();
    }
}
