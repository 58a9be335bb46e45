using Recur.Autograd;
using Recur.Layers;
using Recur.Losses;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Training;

/// <summary>Small end-to-end training runs over the whole engine, for determinism and learning checks.</summary>
internal static class TinyTraining
{
    /// <summary>Sine windows [B, T, 1] with random phases and the next value [B, 1] as target.</summary>
    public static (Tensor x, Tensor y) SineBatch(RecurRandom random, int batch, int steps)
    {
        var x = new Tensor(batch, steps, 1);
        var y = new Tensor(batch, 1);
        for (int b = 0; b < batch; b++)
        {
            double phase = random.Uniform(0, 2 * Math.PI);
            for (int t = 0; t < steps; t++) x.Data[b * steps + t] = (float)Math.Sin(phase + 0.3 * t);
            y.Data[b] = (float)Math.Sin(phase + 0.3 * steps);
        }
        return (x, y);
    }

    /// <summary>
    /// LSTM forecaster (2 layers, dropout before the head) trained with Adam and norm clipping; returns the losses
    /// and every parameter's final bytes.
    /// </summary>
    public static (List<double> losses, byte[] weights) Forecaster(ulong seed, int updates, int hidden = 16)
    {
        var random = new RecurRandom(seed);
        var lstm = new Lstm("encoder", inputSize: 1, hiddenSize: hidden, numLayers: 2, random: random);
        var dropout = new Dropout(0.1);
        var head = new Dense("head", hidden, 1, random: random);
        var optimizer = new Adam([.. lstm.Parameters, .. head.Parameters], learningRate: 1e-2);
        var losses = new List<double>();
        for (int step = 0; step < updates; step++)
        {
            var (x, y) = SineBatch(random, batch: 16, steps: 20);
            var tape = new Tape();
            var sequence = lstm.Forward(tape, new Variable(x)).Output;
            var last = dropout.Forward(tape, TimeSteps.Last(tape, sequence), training: true, random);
            var loss = Loss.MeanSquaredError(tape, head.Forward(tape, last), y);
            optimizer.ZeroGrad();
            tape.Backward(loss);
            GradientClipping.ClipByGlobalNorm(optimizer.Parameters, maxNorm: 1.0);
            optimizer.Step();
            losses.Add(loss.Value.Data[0]);
        }
        return (losses, Bytes(optimizer.Parameters));
    }

    /// <summary>GRU classifier over embedded tokens with softmax cross-entropy and AdamW.</summary>
    public static (List<double> losses, byte[] weights) Classifier(ulong seed, int updates)
    {
        const int vocabulary = 12, classes = 3, batch = 8, steps = 9;
        var random = new RecurRandom(seed);
        var embedding = new Embedding("embedding", vocabulary, 6, random);
        var gru = new Gru("encoder", 6, 10, numLayers: 2, random: random);
        var head = new Dense("head", 10, classes, random: random);
        var optimizer = new AdamW([.. embedding.Parameters, .. gru.Parameters, .. head.Parameters], learningRate: 1e-2);
        var losses = new List<double>();
        for (int step = 0; step < updates; step++)
        {
            // The class is the token most frequent among 0..2 at positions 0..2.
            var tokens = new int[batch * steps];
            var labels = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                labels[b] = random.NextInt(classes);
                for (int t = 0; t < steps; t++) tokens[b * steps + t] = t < 3 ? labels[b] : 3 + random.NextInt(vocabulary - 3);
            }
            var tape = new Tape();
            var embedded = embedding.Forward(tape, tokens, batch, steps);
            var last = TimeSteps.Last(tape, gru.Forward(tape, embedded).Output);
            var loss = Loss.SoftmaxCrossEntropy(tape, head.Forward(tape, last), labels);
            optimizer.ZeroGrad();
            tape.Backward(loss);
            optimizer.Step();
            losses.Add(loss.Value.Data[0]);
        }
        return (losses, Bytes(optimizer.Parameters));
    }

    public static byte[] Bytes(IEnumerable<Parameter> parameters) =>
        parameters.SelectMany(p => p.Value.Data.SelectMany(BitConverter.GetBytes)).ToArray();
}
