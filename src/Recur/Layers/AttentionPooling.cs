using Recur.Autograd;
using Recur.Initialization;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>How a one-output-per-sequence model summarises its recurrent outputs (<c>--attention none|additive|dot</c>).</summary>
public enum AttentionKind
{
    /// <summary>The last real step (both directions' ends when bidirectional).</summary>
    None,

    /// <summary>Bahdanau: score_t = vᵀ tanh(W h_t + b).</summary>
    Additive,

    /// <summary>Luong (general with a learned query): score_t = qᵀ h_t / √F.</summary>
    Dot,
}

public static class AttentionKinds
{
    /// <summary>Parses <c>none</c>, <c>additive</c> (also <c>bahdanau</c>) or <c>dot</c> (also <c>luong</c>), any case.</summary>
    public static AttentionKind Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "none" => AttentionKind.None,
        "additive" or "bahdanau" => AttentionKind.Additive,
        "dot" or "luong" => AttentionKind.Dot,
        _ => throw new InvalidInputException($"--attention: expected none, additive or dot; found '{text}'."),
    };

    public static string Name(AttentionKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>The message for attention asked of a per-step task.</summary>
    public const string Refused =
        "--attention: attention pooling summarises a sequence into one output (classify, forecast); tag and lm predict at every step — train without --attention.";
}

/// <summary>
/// Attention pooling over time: [B, T, F] → context [B, F] = Σ_t α_t h_t, α a softmax over each sequence's real steps
/// (see <see cref="AttentionKernel{T}"/>). Parameters: additive <c>attention.weight</c> [A, F] (Glorot),
/// <c>attention.bias</c> [A] (zeros), <c>attention.v</c> [A]; dot <c>attention.query</c> [F]. A = F.
/// </summary>
public sealed class AttentionPooling : Module
{
    private readonly Parameter? _weight, _bias, _v, _query;

    public AttentionPooling(string name, AttentionKind kind, int features, RecurRandom random) : base(name)
    {
        if (kind == AttentionKind.None) throw new ArgumentException("AttentionPooling needs an attention kind other than none.", nameof(kind));
        if (features < 1) throw new ArgumentOutOfRangeException(nameof(features), features, "features must be at least 1.");
        (Kind, Features, Size) = (kind, features, features);
        if (kind == AttentionKind.Additive)
        {
            _weight = new Parameter(Qualify("weight"), new Tensor(Size, features));
            Initializers.GlorotUniform(_weight.Value.Span, features, Size, random);
            _bias = new Parameter(Qualify("bias"), new Tensor(Size));
            _v = new Parameter(Qualify("v"), new Tensor(Size));
            Initializers.Uniform(_v.Value.Span, 1 / Math.Sqrt(Size), random);
            Parameters = [_weight, _bias, _v];
        }
        else
        {
            _query = new Parameter(Qualify("query"), new Tensor(features));
            Initializers.Uniform(_query.Value.Span, 1 / Math.Sqrt(features), random);
            Parameters = [_query];
        }
    }

    public AttentionKind Kind { get; }
    public int Features { get; }

    /// <summary>Width A of the additive score's hidden layer.</summary>
    public int Size { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// sequence [B, T, F], lengths [B] (null: all T) → context [B, F] and the weights α [B, T] (0 at padded steps).
    /// </summary>
    public (Variable Context, Tensor Weights) Forward(Tape tape, Variable sequence, int[]? lengths)
    {
        var x = sequence.Value;
        if (x.Rank != 3 || x.Dim(2) != Features)
            throw new ArgumentException($"{this} expects a sequence [batch, time, {Features}]; found {x.ShapeText}.", nameof(sequence));
        int B = x.Dim(0), T = x.Dim(1), F = Features, A = Size;
        if (lengths is not null && lengths.Length != B)
            throw new ArgumentException($"Expected one length per sequence (batch {B}); found {lengths.Length} lengths.", nameof(lengths));
        var steps = lengths is null ? [] : (int[])lengths.Clone(); // the caller may reuse its array before backward runs
        var weights = new Tensor(B, T);
        var context = new Variable(new Tensor(B, F), tape.IsRecording);
        if (Kind == AttentionKind.Additive)
        {
            var hidden = new float[B * T * A];
            AttentionKernel<float>.AdditivePool(B, T, F, A, steps, x.Data, _weight!.Value.Data, _bias!.Value.Data, _v!.Value.Data,
                hidden, weights.Data, context.Value.Data);
            tape.Record(() => AttentionKernel<float>.AdditivePoolBackward(B, T, F, A, steps, x.Data, _weight.Value.Data, _v.Value.Data,
                hidden, weights.Data, context.Grad.Data, sequence.RequiresGrad ? sequence.Grad.Data : new float[x.Length],
                _weight.Grad.Data, _bias.Grad.Data, _v.Grad.Data));
        }
        else
        {
            AttentionKernel<float>.DotPool(B, T, F, steps, x.Data, _query!.Value.Data, weights.Data, context.Value.Data);
            tape.Record(() => AttentionKernel<float>.DotPoolBackward(B, T, F, steps, x.Data, _query.Value.Data, weights.Data,
                context.Grad.Data, sequence.RequiresGrad ? sequence.Grad.Data : new float[x.Length], _query.Grad.Data));
        }
        return (context, weights);
    }

    public override string ToString() => $"Attention({AttentionKinds.Name(Kind)}, {Features})";
}
