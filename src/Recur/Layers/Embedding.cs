using Recur.Autograd;
using Recur.Initialization;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Token embedding as PyTorch's <c>nn.Embedding</c>: parameter <c>weight</c> [V, E] drawn N(0, 1); integer
/// indices of any shape [...] → [..., E].
/// </summary>
public sealed class Embedding : Module
{
    private readonly Parameter _weight;

    public Embedding(string name, int vocabularySize, int embeddingSize, RecurRandom? random = null) : base(name)
    {
        if (vocabularySize < 1) throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "vocabularySize must be at least 1.");
        if (embeddingSize < 1) throw new ArgumentOutOfRangeException(nameof(embeddingSize), embeddingSize, "embeddingSize must be at least 1.");
        (VocabularySize, EmbeddingSize) = (vocabularySize, embeddingSize);
        _weight = new Parameter(Qualify("weight"), new Tensor(vocabularySize, embeddingSize));
        Initializers.Normal(_weight.Value.Span, 1.0, random ?? new RecurRandom(0));
        Parameters = [_weight];
    }

    public int VocabularySize { get; }
    public int EmbeddingSize { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The table W: [V, E] (the live values).</summary>
    internal Tensor Weight => _weight.Value;

    /// <summary>indices: any shape whose element count is indices.Length, e.g. [B, T] → [B, T, E].</summary>
    public Variable Forward(Tape tape, int[] indices, params int[] shape)
    {
        if (Tensor.Product(shape) != indices.Length)
            throw new ArgumentException($"{this}: {indices.Length} indices do not fill shape [{string.Join(", ", shape)}].", nameof(shape));
        var y = new Variable(new Tensor([.. shape, EmbeddingSize]), tape.IsRecording);
        EmbeddingKernel<float>.Forward(indices, VocabularySize, EmbeddingSize, _weight.Value.Data, y.Value.Data);
        tape.Record(() => EmbeddingKernel<float>.Backward(indices, EmbeddingSize, y.Grad.Data, _weight.Grad.Data));
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    public override string ToString() => $"Embedding({VocabularySize} => {EmbeddingSize})";
}
