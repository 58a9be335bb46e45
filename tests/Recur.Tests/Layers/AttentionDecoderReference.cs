using Recur.Layers;
using Recur.Models;

namespace Recur.Tests.Layers;

/// <summary>
/// An independent double-precision forward of a one-layer encoder–decoder <see cref="SequenceModel"/>, written as
/// plain loops from the equations (not from the engine's kernels), reading the model's float parameters widened to
/// double. Finite differences of it check the tape's gradients of the composed model.
/// </summary>
/// <remarks>
/// Dimension letters: B sequences, T encoder steps, I input features, H hidden units, F = H encoder features,
/// S decoder steps, V target vocabulary. Cells in PyTorch's gate order: LSTM i, f, g, o (c = f·c + i·g,
/// h = o·tanh c); GRU r, z, n (n = tanh(x_n + r·(W_hn h + b_hn)), h = (1 − z)·n + z·h). Decoder step s reads
/// [previous; context_{s−1}] (context_0 = 0), where "previous" is the previous value [1] (forecaster) or the
/// embedding of the previous token [E] (token decoder, the start token at step 1); its new state h_s queries the
/// encoder outputs of the real steps — dot: α = softmax_t((W_q h_s)·e_t / √F); additive:
/// α = softmax_t(vᵀ tanh(K e_t + U h_s + b)) — and the head reads [h_s; Σ_t α_t e_t].
/// </remarks>
internal sealed class AttentionDecoderReference
{
    private readonly CellKind _cell;
    private readonly AttentionKind _attention;
    private readonly int _hidden;

    public AttentionDecoderReference(SequenceModel model)
    {
        if (model.Spec.Layers != 1 || model.Spec.Bidirectional) throw new ArgumentException("The reference covers one forward layer.", nameof(model));
        (_cell, _attention, _hidden) = (model.Spec.Cell, model.Spec.DecoderAttention, model.Spec.HiddenSize);
        Parameters = model.Parameters.ToDictionary(p => p.Name, p => p.Value.Data.Select(x => (double)x).ToArray());
    }

    /// <summary>The model's parameters in double, by name; finite differences perturb these arrays in place.</summary>
    public Dictionary<string, double[]> Parameters { get; }

    private double[] P(string name) => Parameters[name];

    /// <summary>
    /// The encoder over x [T, I] (the first <paramref name="length"/> steps): outputs [length][H] and the final h, c.
    /// </summary>
    public (double[][] Outputs, double[] H, double[] C) Encode(IReadOnlyList<double[]> x, int length)
    {
        var h = new double[_hidden];
        var c = new double[_hidden];
        var outputs = new double[length][];
        for (int t = 0; t < length; t++)
        {
            (h, c) = CellStep("encoder", x[t], h, c);
            outputs[t] = (double[])h.Clone();
        }
        return (outputs, h, c);
    }

    /// <summary>One decoder step from its input vector: the new state, the context [F], the attention weights [T] and the head's output.</summary>
    public (double[] H, double[] C, double[] Context, double[] Weights, double[] Output) DecoderStep(double[] input, double[] h, double[] c,
        double[][] encoded)
    {
        (h, c) = CellStep("decoder", input, h, c);
        int F = encoded[0].Length, T = encoded.Length;
        var scores = new double[T];
        if (_attention == AttentionKind.Dot)
        {
            var q = Affine(P("decoder_attention.query.weight"), null, h, F);
            for (int t = 0; t < T; t++) scores[t] = Dot(q, encoded[t]) / Math.Sqrt(F);
        }
        else
        {
            var u = Affine(P("decoder_attention.state.weight"), P("decoder_attention.state.bias"), h, F);
            for (int t = 0; t < T; t++)
            {
                var k = Affine(P("decoder_attention.key.weight"), null, encoded[t], F);
                for (int a = 0; a < F; a++) k[a] = Math.Tanh(k[a] + u[a]);
                scores[t] = Dot(P("decoder_attention.v"), k);
            }
        }
        double max = scores.Max(), sum = 0;
        var weights = scores.Select(s => Math.Exp(s - max)).ToArray();
        foreach (var w in weights) sum += w;
        var context = new double[F];
        for (int t = 0; t < T; t++)
        {
            weights[t] /= sum;
            for (int f = 0; f < F; f++) context[f] += weights[t] * encoded[t][f];
        }
        var bias = P("decoder_head.bias");
        var output = Affine(P("decoder_head.weight"), bias, [.. h, .. context], bias.Length);
        return (h, c, context, weights, output);
    }

    /// <summary>
    /// The forecaster's outputs [B, S]: x [B][T][I] with lengths, targets [B, S], teacher [B·S] (true: fed the
    /// target; false: fed the previous output — or, when <paramref name="fed"/> is given, the constant fed[b·S + s],
    /// which is how the model feeds its own prediction without a gradient). Returns the outputs and what each step
    /// after the first was fed.
    /// </summary>
    public (double[] Outputs, double[] Fed) Forecast(double[][][] x, int[] lengths, double[] targets, bool[] teacher, int steps, double[]? fed = null)
    {
        int B = x.Length;
        var outputs = new double[B * steps];
        var used = new double[B * steps];
        for (int b = 0; b < B; b++)
        {
            var (encoded, h, c) = Encode(x[b], lengths[b]);
            double previous = x[b][lengths[b] - 1][0];
            var context = new double[encoded[0].Length];
            for (int s = 0; s < steps; s++)
            {
                (h, c, context, _, var y) = DecoderStep([previous, .. context], h, c, encoded);
                outputs[b * steps + s] = y[0];
                int i = b * steps + s;
                used[i] = teacher[i] ? targets[i] : fed?[i] ?? y[0];
                previous = used[i];
            }
        }
        return (outputs, used);
    }

    /// <summary>
    /// The token decoder's logits [B][U][V]: source ids [B][T] with lengths, targets [B][U] (ids then the end token),
    /// teacher [B·U] (true: step s + 1 is fed targets[b][s]; false: the argmax of step s — or, when
    /// <paramref name="fed"/> is given, the constant fed[b·U + s]). Returns the logits and what each step fed next.
    /// </summary>
    public (double[][][] Logits, int[] Fed) Translate(int[][] source, int[] lengths, int[][] targets, bool[] teacher, int steps, int[]? fed = null)
    {
        int B = source.Length, V = Parameters["decoder_head.bias"].Length, E = Parameters["decoder_embedding.weight"].Length / V;
        double[] Row(string name, int id) => Parameters[name].AsSpan(id * E, E).ToArray();
        var logits = new double[B][][];
        var used = new int[B * steps];
        for (int b = 0; b < B; b++)
        {
            var (encoded, h, c) = Encode(source[b].Select(id => Row("embedding.weight", id)).ToList(), lengths[b]);
            int previous = V - 2; // the start token
            var context = new double[encoded[0].Length];
            logits[b] = new double[steps][];
            for (int s = 0; s < steps; s++)
            {
                (h, c, context, _, var y) = DecoderStep([.. Row("decoder_embedding.weight", previous), .. context], h, c, encoded);
                logits[b][s] = y;
                int i = b * steps + s, argmax = Array.IndexOf(y, y.Max());
                used[i] = teacher[i] ? targets[b][s] : fed?[i] ?? argmax;
                previous = used[i];
            }
        }
        return (logits, used);
    }

    private (double[] H, double[] C) CellStep(string module, double[] x, double[] h, double[] c)
    {
        int H = _hidden;
        var wih = P($"{module}.weight_ih_l0");
        int gates = wih.Length / (H * x.Length);
        var a = Affine(wih, P($"{module}.bias_ih_l0"), x, gates * H);
        var r = Affine(P($"{module}.weight_hh_l0"), P($"{module}.bias_hh_l0"), h, gates * H);
        var hNext = new double[H];
        var cNext = new double[H];
        for (int j = 0; j < H; j++)
        {
            if (_cell == CellKind.Lstm)
            {
                double i = Sigmoid(a[j] + r[j]), f = Sigmoid(a[H + j] + r[H + j]), g = Math.Tanh(a[2 * H + j] + r[2 * H + j]), o = Sigmoid(a[3 * H + j] + r[3 * H + j]);
                cNext[j] = f * c[j] + i * g;
                hNext[j] = o * Math.Tanh(cNext[j]);
            }
            else if (_cell == CellKind.Gru)
            {
                double reset = Sigmoid(a[j] + r[j]), z = Sigmoid(a[H + j] + r[H + j]), n = Math.Tanh(a[2 * H + j] + reset * r[2 * H + j]);
                hNext[j] = (1 - z) * n + z * h[j];
            }
            else throw new NotSupportedException($"The reference has no {_cell} cell.");
        }
        return (hNext, cNext);
    }

    /// <summary>W [O, I] · x [I] + b [O].</summary>
    public static double[] Affine(double[] w, double[]? b, double[] x, int outputs)
    {
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double s = b?[o] ?? 0;
            for (int i = 0; i < x.Length; i++) s += w[o * x.Length + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}
