using Recur.Autograd;
using Recur.Initialization;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Fully connected layer y = x·Wᵀ + b over the last axis of any input [..., I] → [..., O], as PyTorch's
/// <c>nn.Linear</c>: parameters <c>weight</c> [O, I] (Glorot-uniform) and <c>bias</c> [O] (zeros).
/// </summary>
public sealed class Dense : Module
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;

    public Dense(string name, int inputSize, int outputSize, bool useBias = true, RecurRandom? random = null) : base(name)
    {
        if (inputSize < 1) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "inputSize must be at least 1.");
        if (outputSize < 1) throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, "outputSize must be at least 1.");
        (InputSize, OutputSize) = (inputSize, outputSize);
        _weight = new Parameter(Qualify("weight"), new Tensor(outputSize, inputSize));
        Initializers.GlorotUniform(_weight.Value.Span, inputSize, outputSize, random ?? new RecurRandom(0));
        _bias = useBias ? new Parameter(Qualify("bias"), new Tensor(outputSize)) : null;
        Parameters = _bias is null ? [_weight] : [_weight, _bias];
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>W: [O, I] (the live values).</summary>
    internal Tensor Weight => _weight.Value;

    /// <summary>b: [O] (the live values); null without bias.</summary>
    internal Tensor? Bias => _bias?.Value;

    public Variable Forward(Tape tape, Variable x)
    {
        if (x.Value.Rank < 1 || x.Value.Dim(-1) != InputSize)
            throw new ArgumentException($"{this} expects input [..., {InputSize}]; found {x.Value.ShapeText}.", nameof(x));
        int n = x.Value.Length / InputSize;
        var shape = x.Value.Shape.ToArray();
        shape[^1] = OutputSize;
        var y = new Variable(new Tensor(shape), tape.IsRecording);
        DenseKernel<float>.Forward(n, InputSize, OutputSize, x.Value.Data, _weight.Value.Data, _bias is null ? [] : _bias.Value.Data, y.Value.Data);
        tape.Record(() => DenseKernel<float>.Backward(n, InputSize, OutputSize, x.Value.Data, _weight.Value.Data, y.Grad.Data,
            x.RequiresGrad ? x.Grad.Data : [], _weight.Grad.Data, _bias is null ? [] : _bias.Grad.Data));
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    public override string ToString() => $"Dense({InputSize} => {OutputSize})";
}
