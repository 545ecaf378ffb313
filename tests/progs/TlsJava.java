// A Java TLS client for tlstap's bpf tests: Java's own TLS (JSSE, in the
// JVM), which tlstap does not hook. Connects to 127.0.0.1:PORT, trusting any
// certificate, sends one line, prints "connected" once the handshake is
// done, then keeps the connection until its stdin closes.
//   java -cp DIR TlsJava PORT
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public class TlsJava {
  public static void main(String[] args) throws Exception {
    TrustManager[] trustAll = {
      new X509TrustManager() {
        public void checkClientTrusted(X509Certificate[] chain, String type) {}

        public void checkServerTrusted(X509Certificate[] chain, String type) {}

        public X509Certificate[] getAcceptedIssuers() {
          return new X509Certificate[0];
        }
      }
    };
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, trustAll, null);
    try (SSLSocket socket =
        (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", Integer.parseInt(args[0]))) {
      socket.startHandshake();
      OutputStream out = socket.getOutputStream();
      out.write("hello from java\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      System.out.println("connected");
      System.out.flush();
      InputStream in = System.in;
      while (in.read() >= 0) {}
    }
  }
}
