using Recur.Autograd;
using Recur.Losses;
using Recur.Randomness;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Losses;

/// <summary>The tape operations give the kernel's loss, and through <see cref="Tape.Backward"/> its gradient.</summary>
public class LossTapeTests
{
    private static Tensor RandomTensor(RecurRandom rng, double low, double high, params int[] shape)
    {
        var tensor = new Tensor(shape);
        for (int i = 0; i < tensor.Length; i++) tensor.Data[i] = (float)rng.Uniform(low, high);
        return tensor;
    }

    private static Tensor Labels(RecurRandom rng, params int[] shape)
    {
        var tensor = new Tensor(shape);
        for (int i = 0; i < tensor.Length; i++) tensor.Data[i] = rng.NextInt(2);
        return tensor;
    }

    /// <summary>Runs the loss on a tape, backpropagates, and checks value and gradient against the kernel.</summary>
    private static void AssertTapeMatchesKernel(Variable prediction, Func<Tape, Variable> lossOnTape,
        Func<float> kernelForward, Action<float[]> kernelBackward)
    {
        var tape = new Tape();
        Variable loss = lossOnTape(tape);
        var expectedGradient = new float[prediction.Value.Length];
        kernelBackward(expectedGradient);

        tape.Backward(loss);

        Assert.Equal([1], loss.Shape);
        Assert.True(loss.RequiresGrad);
        Assert.Equal(kernelForward(), loss.Value.Data[0]);
        Assert.Equal(expectedGradient, prediction.Grad.Data);
    }

    [Fact]
    public void Regression_losses_backpropagate_the_kernel_gradient()
    {
        var rng = new RecurRandom(201);
        Tensor target = RandomTensor(rng, -2, 2, 4, 3);
        Tensor value = RandomTensor(rng, -2, 2, 4, 3);

        var mse = new Variable(value, requiresGrad: true);
        AssertTapeMatchesKernel(mse, tape => Loss.MeanSquaredError(tape, mse, target),
            () => MeanSquaredError.Forward<float>(value.Data, target.Data),
            g => MeanSquaredError.Backward<float>(value.Data, target.Data, 1f, g));

        var mae = new Variable(value, requiresGrad: true);
        AssertTapeMatchesKernel(mae, tape => Loss.MeanAbsoluteError(tape, mae, target),
            () => MeanAbsoluteError.Forward<float>(value.Data, target.Data),
            g => MeanAbsoluteError.Backward<float>(value.Data, target.Data, 1f, g));

        var huber = new Variable(value, requiresGrad: true);
        AssertTapeMatchesKernel(huber, tape => Loss.Huber(tape, huber, target, delta: 0.8),
            () => Huber.Forward<float>(value.Data, target.Data, 0.8),
            g => Huber.Backward<float>(value.Data, target.Data, 1f, g, 0.8));
    }

    [Fact]
    public void Cross_entropy_over_batch_and_time_backpropagates_the_kernel_gradient()
    {
        // logits [B=2, T=3, C=4] flatten to N = 6 rows; mask [B, T] marks the last step of sequence 1 as padding.
        var rng = new RecurRandom(202);
        Tensor value = RandomTensor(rng, -3, 3, 2, 3, 4);
        int[] targets = [0, 3, 1, 2, 2, -1];
        var mask = new Tensor([1, 1, 1, 1, 1, 0], 2, 3);
        Tensor classWeights = RandomTensor(rng, 0.2, 2, 4);
        var logits = new Variable(value, requiresGrad: true);

        AssertTapeMatchesKernel(logits, tape => Loss.SoftmaxCrossEntropy(tape, logits, targets, mask, classWeights),
            () => SoftmaxCrossEntropy.Forward<float>(value.Data, targets, 4, mask.Data, classWeights.Data),
            g => SoftmaxCrossEntropy.Backward<float>(value.Data, targets, 4, 1f, g, mask.Data, classWeights.Data));
    }

    [Fact]
    public void Binary_cross_entropies_backpropagate_the_kernel_gradient()
    {
        var rng = new RecurRandom(203);
        Tensor logitsValue = RandomTensor(rng, -4, 4, 5, 3);
        Tensor target = Labels(rng, 5, 3);
        Tensor posWeight = RandomTensor(rng, 0.5, 3, 3);
        var logits = new Variable(logitsValue, requiresGrad: true);
        AssertTapeMatchesKernel(logits, tape => Loss.BinaryCrossEntropyWithLogits(tape, logits, target, posWeight),
            () => BinaryCrossEntropyWithLogits.Forward<float>(logitsValue.Data, target.Data, posWeight.Data),
            g => BinaryCrossEntropyWithLogits.Backward<float>(logitsValue.Data, target.Data, 1f, g, posWeight.Data));

        Tensor probabilities = RandomTensor(rng, 0.05, 0.95, 5, 3);
        var prediction = new Variable(probabilities, requiresGrad: true);
        AssertTapeMatchesKernel(prediction, tape => Loss.BinaryCrossEntropy(tape, prediction, target),
            () => BinaryCrossEntropy.Forward<float>(probabilities.Data, target.Data),
            g => BinaryCrossEntropy.Backward<float>(probabilities.Data, target.Data, 1f, g));
    }

    [Fact]
    public void Gradient_on_the_loss_scales_the_prediction_gradient()
    {
        var prediction = new Variable(new Tensor([1f, 2f], 2), requiresGrad: true);
        var tape = new Tape();
        Variable loss = Loss.MeanSquaredError(tape, prediction, new Tensor([0f, 0f], 2));
        loss.Grad.Data[0] = 2f; // as if a later operation had scaled the loss by 2; Backward adds its seed 1

        tape.Backward(loss);

        Assert.Equal([3f * 1f, 3f * 2f], prediction.Grad.Data); // 3 · 2·diff / N
    }

    [Fact]
    public void Prediction_without_gradient_records_nothing()
    {
        var tape = new Tape();
        var prediction = new Variable(new Tensor([1f, 2f], 2));

        Variable loss = Loss.MeanAbsoluteError(tape, prediction, new Tensor([0f, 0f], 2));

        Assert.False(loss.RequiresGrad);
        Assert.Equal(0, tape.Count);
        Assert.Equal(1.5f, loss.Value.Data[0]);
    }

    [Fact]
    public void Inference_tape_computes_the_loss_without_recording()
    {
        var tape = Tape.Inference;
        var logits = new Variable(new Tensor(2, 3), requiresGrad: true);

        Variable loss = Loss.SoftmaxCrossEntropy(tape, logits, [0, 2]);

        Assert.Equal(MathF.Log(3), loss.Value.Data[0], 1e-6f);
        Assert.Equal(0, tape.Count);
    }

    [Fact]
    public void Target_shape_mismatch_names_both_shapes()
    {
        var prediction = new Variable(new Tensor(4, 3), requiresGrad: true);

        var error = Assert.Throws<ArgumentException>(
            () => Loss.MeanSquaredError(new Tape(), prediction, new Tensor(3, 4)));

        Assert.Equal("target", error.ParamName);
        Assert.Contains("[4, 3]", error.Message);
        Assert.Contains("[3, 4]", error.Message);
    }

    [Fact]
    public void Cross_entropy_shape_errors_name_the_argument()
    {
        var logits = new Variable(new Tensor(2, 3), requiresGrad: true);
        var tape = new Tape();

        Assert.Equal("logits", Assert.Throws<ArgumentException>(
            () => Loss.SoftmaxCrossEntropy(tape, new Variable(new Tensor(6)), [0, 1])).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(
            () => Loss.SoftmaxCrossEntropy(tape, logits, [0, 1, 2])).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(
            () => Loss.SoftmaxCrossEntropy(tape, logits, [0, 3])).ParamName);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(
            () => Loss.SoftmaxCrossEntropy(tape, logits, [0, 1], mask: new Tensor(3))).ParamName);
        var weights = Assert.Throws<ArgumentException>(
            () => Loss.SoftmaxCrossEntropy(tape, logits, [0, 1], classWeights: new Tensor(2)));
        Assert.Equal("classWeights", weights.ParamName);
        Assert.Contains("expected [3]", weights.Message);
        Assert.Contains("found [2]", weights.Message);
    }

    [Fact]
    public void Pos_weight_must_match_the_last_dimension()
    {
        var logits = new Variable(new Tensor(2, 3), requiresGrad: true);

        var error = Assert.Throws<ArgumentException>(
            () => Loss.BinaryCrossEntropyWithLogits(new Tape(), logits, new Tensor(2, 3), new Tensor(2)));

        Assert.Equal("posWeight", error.ParamName);
        Assert.Contains("expected [3]", error.Message);
    }
}
