using Recur.Autograd;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Inverted dropout (<c>nn.Dropout</c>): while training, zeroes each element with probability p and scales the
/// rest by 1/(1−p); at inference it returns its input unchanged. Masks come from the caller's seeded generator.
/// </summary>
public sealed class Dropout
{
    public Dropout(double probability)
    {
        if (!(probability >= 0 && probability < 1))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Dropout probability must be in [0, 1).");
        Probability = probability;
    }

    public double Probability { get; }

    public Variable Forward(Tape tape, Variable x, bool training, RecurRandom random)
    {
        if (!training || Probability == 0) return x;
        var mask = new float[x.Value.Length];
        DropoutKernel<float>.Mask(Probability, random, mask);
        var y = new Variable(new Tensor(x.Value.Shape), tape.IsRecording);
        DropoutKernel<float>.Forward(x.Value.Data, mask, y.Value.Data);
        if (x.RequiresGrad) tape.Record(() => DropoutKernel<float>.Backward(y.Grad.Data, mask, x.Grad.Data));
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    public override string ToString() => $"Dropout(p: {Probability})";
}
