using Recur.Tensors;

namespace Recur.Tests.Training;

/// <summary>Same seed and thread count → bit-identical weights after training; another seed → other weights.</summary>
[Collection("Engine threads")]
public class DeterminismTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SameSeedAndThreadsGiveIdenticalBytes(int threads)
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = threads;
            var first = TinyTraining.Forecaster(seed: 7, updates: 12, hidden: 48);
            var second = TinyTraining.Forecaster(seed: 7, updates: 12, hidden: 48);
            Assert.Equal(first.losses, second.losses);
            Assert.Equal(first.weights, second.weights);
            Assert.NotEqual(first.weights, TinyTraining.Forecaster(seed: 8, updates: 12, hidden: 48).weights);

            var classifier = TinyTraining.Classifier(seed: 7, updates: 6);
            Assert.Equal(classifier.weights, TinyTraining.Classifier(seed: 7, updates: 6).weights);
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
